"""PostgreSQL restarted under a running gateway while a client keeps submitting.

The gateway runs on its own PostgreSQL server (restarting the session's server would disturb
other tests). While the database is down, submissions are answered 503 ``STORE_ERROR`` (a
"try again later" the client honours) and ``/readyz`` says not ready; after it comes back
the same process recovers without a restart, and the accounting holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from tests.faults.cluster import (
    GatewayProcess,
    Ledger,
    NodeConfig,
    RestartablePostgreSQL,
    account,
    readyz_status,
    report,
    submit_until_answered,
)
from tests.world import H14, H41, Pki, document

pytestmark = pytest.mark.integration

DOCUMENTS = 40


@pytest.fixture
def own_postgres() -> Iterator[RestartablePostgreSQL]:
    """A PostgreSQL server for this test only (it gets restarted)."""
    server = RestartablePostgreSQL()
    try:
        server.start()
        yield server
    finally:
        server.stop()


async def test_postgres_restart_loses_nothing(
    tmp_path, amqp_url: str, own_postgres: RestartablePostgreSQL, pki: Pki, gateways: Callable, http
) -> None:
    store_url = own_postgres.create_database()
    gateway: GatewayProcess = gateways(NodeConfig(store_url, amqp_url, tmp_path / "blobs", pki))
    await asyncio.to_thread(gateway.start)
    ledger = Ledger()
    restarted = asyncio.Event()
    ready_while_down: list[int] = []

    async def client() -> None:
        for n in range(DOCUMENTS):
            number = f"9{n:03d}"
            to = (H41,) if n % 2 else (H41, H14)
            await submit_until_answered(
                http, [gateway.url], ledger, number, document(number, to=to)
            )
            await asyncio.sleep(0.05)

    async def restart() -> None:
        while len(ledger.accepted) < DOCUMENTS // 4:
            await asyncio.sleep(0.02)

        def bounce() -> None:
            own_postgres.halt()
            ready_while_down.append(readyz_status(gateway.url))
            time.sleep(2.0)
            own_postgres.start()

        await asyncio.to_thread(bounce)
        restarted.set()

    await asyncio.gather(client(), restart())
    assert restarted.is_set()
    assert ready_while_down == [503], "readiness must fail while the database is down"
    await asyncio.to_thread(gateway.wait_ready, 120)

    result = await account(store_url, ledger)
    report(
        result.line("postgres-restart")
        + f" unavailable_answers={ledger.unavailable} unanswered={ledger.unanswered}"
    )
    assert len(ledger.accepted) == DOCUMENTS
    result.assert_clean()
