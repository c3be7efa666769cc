"""Fixtures of the fault suite: test credentials, a gateway process factory, HTTP sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
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


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One HTTP client session (connections closed at the end)."""
    async with aiohttp.ClientSession() as session:
        yield session
