"""Shared fixtures: real RabbitMQ and PostgreSQL servers, started once per test session.

- ``rabbitmq``: the session's RabbitMQ node (``.url()``, ``.stop()``, ``.start()``,
  ``.new_vhost()``); ``amqp_url``: a fresh virtual host on it for one test.
- ``postgres``: URL of the session's PostgreSQL server; ``pg_url``: a fresh database.
- ``store_url``: a fresh store URL, parametrized over SQLite and PostgreSQL.
- ``shared_dir``: ``../shared`` beside the repository (conformance packets, read in place).
- ``http``: one aiohttp client session for a test (closed at its end).

Servers start lazily, on first use, so unit tests need neither.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.services import Clamd, PostgreSQL, RabbitMQ

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``shared/`` directory beside the repository clone."""
    return REPO.parent / "shared"


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitMQ]:
    """A RabbitMQ node of our own for the whole session (stopped with its epmd at the end)."""
    server = RabbitMQ()
    try:
        server.start()
        yield server
    finally:
        server.kill()


@pytest.fixture
def amqp_url(rabbitmq: RabbitMQ) -> str:
    """AMQP URL of a virtual host used by this test only."""
    return rabbitmq.url(rabbitmq.new_vhost())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgreSQL]:
    """A PostgreSQL cluster of our own for the whole session."""
    server = PostgreSQL()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres(postgres_server: PostgreSQL) -> str:
    """URL of the session PostgreSQL server's maintenance database."""
    return postgres_server.url


@pytest.fixture
def pg_url(postgres_server: PostgreSQL) -> str:
    """URL of an empty PostgreSQL database used by this test only."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty store: SQLite file in the test's directory, or a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def clamd() -> Iterator[Clamd]:
    """A clamd of our own (EICAR-only signature database) for the whole session."""
    server = Clamd()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One HTTP client session (connections closed at the end; a request hangs 120 s at most)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        yield session
