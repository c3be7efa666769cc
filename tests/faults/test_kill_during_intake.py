"""SIGKILL of the gateway while concurrent clients are submitting (PostgreSQL store).

Four clients keep submitting distinct documents; once some are accepted the gateway process
is SIGKILLed and started again on the same port. A client whose request got no answer sends
the same bytes again (as a real QLVB system does). Afterwards the accounting holds: every
receipt is delivered, nothing is stored twice under two ids, every refusal is audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.faults.cluster import (
    GatewayProcess,
    Ledger,
    NodeConfig,
    account,
    report,
    submit_until_answered,
)
from tests.world import G22, H14, H41, Pki, document

pytestmark = pytest.mark.integration

CLIENTS = 4
PER_CLIENT = 15
KILL_AFTER_ACCEPTED = 12


async def test_sigkill_during_intake_with_concurrent_clients(
    tmp_path, amqp_url: str, pg_url: str, pki: Pki, gateways: Callable, http
) -> None:
    config = NodeConfig(pg_url, amqp_url, tmp_path / "blobs", pki)
    gateway: GatewayProcess = gateways(config, "gateway")
    await asyncio.to_thread(gateway.start)
    ledger = Ledger()
    killed = asyncio.Event()

    async def client(index: int) -> None:
        for n in range(PER_CLIENT):
            number = f"{index}{n:03d}"
            # One document in ten names a recipient the directory does not know: refused.
            to = ("000.00.00.H63",) if n % 10 == 9 else ((H41,) if n % 2 else (H41, H14))
            await submit_until_answered(
                http, [gateway.url], ledger, number, document(number, sender=G22, to=to)
            )

    async def killer() -> None:
        while len(ledger.accepted) < KILL_AFTER_ACCEPTED:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(gateway.kill)
        killed.set()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(gateway.start)

    await asyncio.gather(killer(), *(client(i) for i in range(1, CLIENTS + 1)))
    assert killed.is_set()

    result = await account(pg_url, ledger)
    refused = ledger.rejected
    report(result.line("sigkill-during-intake") + f" unanswered={ledger.unanswered}")
    assert len(ledger.accepted) + len(refused) == CLIENTS * PER_CLIENT
    assert set(refused) <= {"CODE_UNKNOWN"}, refused
    result.assert_clean()
