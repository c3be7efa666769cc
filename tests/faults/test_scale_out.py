"""Scale-out: two gateway processes share one RabbitMQ vhost and one PostgreSQL database,
each with its own local directory (no shared disk).

The load client of ``bench/load.py`` spreads a fixed-rate mix (sends, pulls, acks, status
messages) over both processes; mid-run one process is SIGKILLed and stays down. Clients whose
request went unanswered resend it to the survivor. The survivor's workers take over the
deliveries the dead process held (RabbitMQ redelivers unacked tasks; the outbox sweep
publishes what it stored but had not published). Afterwards the accounting holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bench.load import drive
from tests.faults.cluster import GatewayProcess, NodeConfig, account, readyz_status, report
from tests.world import Pki

pytestmark = pytest.mark.integration

RATE, SECONDS, MAX_REQUESTS = 25.0, 12.0, 400
KILL_AT_S = 5.0


async def test_two_processes_one_killed_mid_run(
    tmp_path, amqp_url: str, pg_url: str, pki: Pki, gateways: Callable, http
) -> None:
    # Separate local directories, as on two machines: the packets live in PostgreSQL (the
    # default blob store of a PostgreSQL node), so the survivor delivers the dead one's.
    first: GatewayProcess = gateways(
        NodeConfig(pg_url, amqp_url, tmp_path / "blobs-a", pki), "gateway-a"
    )
    second: GatewayProcess = gateways(
        NodeConfig(pg_url, amqp_url, tmp_path / "blobs-b", pki), "gateway-b"
    )
    await asyncio.gather(asyncio.to_thread(first.start), asyncio.to_thread(second.start))

    async def kill_second() -> None:
        await asyncio.sleep(KILL_AT_S)
        await asyncio.to_thread(second.kill)

    load, _ = await asyncio.gather(
        drive(http, [first.url, second.url], rate=RATE, seconds=SECONDS, max_requests=MAX_REQUESTS),
        kill_second(),
    )
    assert readyz_status(second.url) == 0, "the second process must really be dead"
    assert readyz_status(first.url) == 200

    result = await account(pg_url, load.ledger)
    sends = len(load.latencies["send"])
    report(
        result.line("scale-out-2-processes-1-killed")
        + f" sends={sends} acks={len(load.latencies['ack'])}"
        + f" statuses={len(load.latencies['status'])} errors={load.error_count}"
        + f" unanswered_resent={load.ledger.unanswered}"
    )
    assert sends >= load.issued * 0.4 * 0.9, "sends must go through on the survivor"
    assert load.latencies["ack"] and load.latencies["status"]
    assert not load.ledger.rejected, load.ledger.rejected
    result.assert_clean()
