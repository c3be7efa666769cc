"""Fixtures of the fault suite: test credentials and a gateway process factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.cluster import GatewayProcess, NodeConfig
from tests.world import Pki


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A CA, the node's key and certificate, and an agency signer for this test."""
    return Pki.create(tmp_path / "pki")


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Callable[[NodeConfig, str], GatewayProcess]]:
    """Factory of gateway processes; every process made is killed at the end of the test."""
    made: list[GatewayProcess] = []

    def make(config: NodeConfig, name: str = "gateway") -> GatewayProcess:
        process = GatewayProcess(config, tmp_path / f"{name}.log")
        made.append(process)
        return process

    yield make
    for process in made:
        process.kill()
