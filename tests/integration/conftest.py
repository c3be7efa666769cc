"""Fixtures shared by the integration tests: the three-process federation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.federation_node import Federation, start_federation
from tests.services import RabbitMQ


@pytest.fixture
def federation(tmp_path: Path, rabbitmq: RabbitMQ) -> Iterator[Federation]:
    """A → H → B as three ``edoc-gateway serve`` processes on one RabbitMQ."""
    with start_federation(tmp_path, rabbitmq) as started:
        yield started
