"""Per-sender shards of the delivery lanes (gateway/delivery/topology.py, broker.py), with real
RabbitMQ, a real SQLite store and a real (slow) push recipient over HTTP.

A calling system flooding the gateway fills its own shard: another system's document is
delivered while the flood is still mostly waiting, and every flooded task is still
delivered exactly once. A retried task comes back to its own shard; parking and operator
replay work from a shard; intake and the outbox sweep route by the sending system. One
shard is the historical single queue per lane; a node restarted with more shards finds its
backlog in shard 0, one restarted with fewer drains the shards it no longer uses.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.push.transport import PushTransport
from gateway import appkeys
from gateway.credentials.auth import sign_request
from gateway.delivery.broker import Broker, DeliveryTask
from gateway.delivery.outbox import sweep
from gateway.delivery.replay import replay_parked
from gateway.delivery.topology import NORMAL, URGENT, Names, shard_for, topology
from gateway.delivery.transports import MailboxTransport, RetryableDeliveryError
from gateway.delivery.workers import DeliveryService
from gateway.ops.metrics import QUEUE_MESSAGES
from gateway.store import bulk
from gateway.store import repository as repo
from gateway.store.blobs import FileBlobStore
from gateway.store.database import create_engine, create_schema, transaction
from tests.integration.gateway_node import running_node, settings_for
from tests.integration.shard_support import WAIT_S, SlowRecipient, delivery_state, wait_for
from tests.pki import make_ca, make_leaf
from tests.world import AGENCIES, H41, SECRETS, document

pytestmark = pytest.mark.integration

LADDER = (0.2, 0.4)
SHARDS = 4
FLOODER, OTHER = "SYS-G22", "SYS-H41"  # on shards 0 and 2 of 4
FLOOD = 400
PREFETCH = 4
PREFIX = "000.00.00.G22"
H17 = "000.00.00.H17"


@pytest.fixture
async def node(tmp_path: Path, amqp_url: str) -> AsyncIterator[dict[str, Any]]:
    """A store, a sharded broker, a delivery service with the push transport, a recipient."""
    ca = make_ca("Node CA")
    leaf = make_leaf(ca, "edoc node", key_type="ec")
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    await create_schema(engine)
    blobs = FileBlobStore(tmp_path / "blobs")
    push = PushTransport(None, leaf.key, node_code=PREFIX)
    recipient = SlowRecipient(leaf.cert)
    await recipient.start()
    env: dict[str, Any] = {"engine": engine, "blobs": blobs, "recipient": recipient}

    async def open_service(shards: int) -> DeliveryService:
        broker = Broker(PREFIX, shards)
        await broker.connect(amqp_url, prefetch=PREFETCH, ladder=LADDER)
        service = DeliveryService(
            engine, blobs, broker, {"mailbox": MailboxTransport(), "push": push}
        )
        env.setdefault("services", []).append(service)
        return service

    env["open_service"] = open_service
    yield env
    for service in env.get("services", []):
        await service.stop()
        await service.broker.close()
    await recipient.stop()
    await push.close()
    await engine.dispose()


async def store(
    engine: AsyncEngine, blobs: FileBlobStore, system: str, n: int, url: str, tag: str
) -> list[str]:
    """Store ``n`` accepted messages from calling system ``system``, one push delivery
    each (state ``pending``, as intake leaves them before its publish); their ids."""
    items = []
    for i in range(n):
        packet = f"<edXMLEnvelope>{tag}-{i}-{datetime.now(UTC).isoformat()}</edXMLEnvelope>"
        key = await blobs.put(packet.encode())
        now = datetime.now(UTC)
        msg = repo.NewMessage(
            kind="document",
            sender="000.00.00.G01",
            document_id=f"{tag}-{i}",
            content_sha256=key,
            blob_key=key,
            size=len(packet),
            caller_system=system,
            accepted_at=now,
            legal_receipt_at=now,
            signature_status="verified",
        )
        items.append((msg, [repo.NewDelivery(H17, H17, "push", url)]))
    async with transaction(engine) as conn:
        await bulk.insert_messages(conn, items)
    return [d.id for _, ds in items for d in ds]


async def _is_settled(engine: AsyncEngine, delivery_id: str) -> bool:
    found = await delivery_state(engine, delivery_id)
    return found is not None and found[0] not in {"pending", "published", "retrying"}


async def states(engine: AsyncEngine, ids: list[str]) -> Counter[str]:
    async with transaction(engine) as conn:
        found = await bulk.load_deliveries(conn, set(ids))
    return Counter(row.state for row, _ in found.values())


async def run_flood(node: dict[str, Any], shards: int) -> tuple[list[str], list[str], str]:
    """System A's flood, then one document of B, all published by the outbox sweep."""
    engine, blobs, recipient = node["engine"], node["blobs"], node["recipient"]
    service = await node["open_service"](shards)
    flood = await store(engine, blobs, FLOODER, FLOOD, recipient.url, "A")
    assert await sweep(engine, service.broker, older_than_s=0) == FLOOD
    await service.start()
    await wait_for(lambda: len(recipient.received) >= 2 * PREFETCH, "the flood to start")
    (other,) = await store(engine, blobs, OTHER, 1, recipient.url, "B")
    assert await sweep(engine, service.broker, older_than_s=0) == 1
    await wait_for(lambda: other in recipient.received, "the other system's document")
    return flood, list(recipient.received), other


async def test_a_flood_fills_its_shard_and_another_system_is_delivered_meanwhile(
    node: dict[str, Any],
) -> None:
    assert shard_for(FLOODER, SHARDS) != shard_for(OTHER, SHARDS)
    flood, seen_then, other = await run_flood(node, SHARDS)
    flood_done_then = sum(1 for d in seen_then if d != other)
    # B did not wait behind A's backlog: most of the flood was still undelivered.
    assert flood_done_then < FLOOD // 4, flood_done_then
    recipient = node["recipient"]
    await wait_for(lambda: len(recipient.received) >= FLOOD + 1, "the whole flood")
    everything = [*flood, other]

    async def all_recorded() -> bool:
        return (await states(node["engine"], everything))["delivered"] == FLOOD + 1

    # The recipient's 200 goes out before the worker records it: wait for the records.
    await wait_for(all_recorded, "every delivery to be recorded")
    await asyncio.sleep(0.3)  # nothing more may arrive
    counts = Counter(recipient.received)
    assert set(counts) == {*flood, other} and set(counts.values()) == {1}  # exactly once
    assert await states(node["engine"], everything) == {"delivered": FLOOD + 1}


async def test_with_one_shard_the_same_flood_keeps_the_other_system_waiting(
    node: dict[str, Any],
) -> None:
    """The control: one queue per lane (the historical topology) puts B behind A's backlog,
    so the assertion of the sharded test above can fail."""
    flood, seen_then, other = await run_flood(node, 1)
    assert sum(1 for d in seen_then if d != other) > FLOOD * 3 // 4
    assert set(seen_then) == {*flood, other}


async def test_retry_parking_and_replay_stay_on_the_shard(
    node: dict[str, Any], amqp_url: str
) -> None:
    engine, blobs, recipient = node["engine"], node["blobs"], node["recipient"]
    service = await node["open_service"](SHARDS)
    retried, refused = await store(engine, blobs, OTHER, 2, recipient.url, "R")
    recipient.fail_first[retried] = 2
    recipient.refuse.add(refused)
    await service.start()
    assert await sweep(engine, service.broker, older_than_s=0) == 2
    await wait_for(lambda: retried in recipient.received, "the retried delivery")
    # The recipient's 200 goes out before the worker records it: wait for the record.
    await wait_for(lambda: _is_settled(engine, retried), "the retried delivery to be recorded")
    assert await delivery_state(engine, retried) == ("delivered", 3)
    await wait_for(lambda: service.broker.gate.busy == 0, "the refused one to settle")
    async with transaction(engine) as conn:
        assert [r.id for r in await repo.parked(conn)] == [refused]
        parked = await repo.get_delivery(conn, refused)
    assert parked is not None

    # Replay of the parked delivery: back on its sender's shard (workers stopped to see it).
    await service.stop()
    assert await replay_parked(engine, service.broker, [refused], actor="op") == [refused]
    names = Names(PREFIX, SHARDS)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        shard = names.shard_of(OTHER)
        assert shard != 0
        queue = await channel.get_queue(names.work_queue(NORMAL, shard), ensure=False)
        incoming = await queue.get(timeout=10)
        task = DeliveryTask.decode(incoming.body)
        assert task == DeliveryTask(refused, parked.message_id, 0, 0, OTHER)
        await incoming.ack()
        for other_shard in range(SHARDS):
            name = names.work_queue(NORMAL, other_shard)
            assert await (await channel.get_queue(name, ensure=False)).get(fail=False) is None


async def test_a_retried_task_comes_back_to_its_own_shard(amqp_url: str) -> None:
    names = Names("node", SHARDS)
    broker = Broker("node", SHARDS)
    await broker.connect(amqp_url, prefetch=5, ladder=LADDER)
    attempts: list[int] = []

    async def fail_once(task: DeliveryTask) -> None:
        attempts.append(task.attempt)
        raise RetryableDeliveryError("recipient busy")

    sender = next(f"SYS-{i}" for i in range(100) if shard_for(f"SYS-{i}", SHARDS) == 3)
    try:
        await broker.consume(fail_once)
        await broker.publish([DeliveryTask("u-1", "m", priority=3, sender=sender)])
        await wait_for(lambda: attempts == [0] and broker.gate.busy == 0, "first attempt")
        await broker.stop_consuming()
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            home = await channel.get_queue(names.work_queue(URGENT, 3), ensure=False)
            incoming = None
            for _ in range(int(WAIT_S / 0.1)):
                incoming = await home.get(fail=False)
                if incoming is not None:
                    break
                await asyncio.sleep(0.1)
            assert incoming is not None, "the retried task did not come back to its shard"
            assert DeliveryTask.decode(incoming.body) == DeliveryTask("u-1", "m", 1, 3, sender)
            await incoming.ack()
            for lane in (NORMAL, URGENT):
                for shard in range(SHARDS):
                    queue = await channel.get_queue(names.work_queue(lane, shard), ensure=False)
                    assert await queue.get(fail=False) is None
    finally:
        await broker.close()


async def test_changing_the_shard_count_keeps_every_task(amqp_url: str) -> None:
    senders = [f"SYS-{i}" for i in range(40)]
    # An un-sharded node (the historical topology) leaves a backlog in its queues.
    old = Broker("node")
    await old.connect(amqp_url, prefetch=5, ladder=LADDER)
    assert {s.name for s in topology(LADDER, names=old.names) if "deliver" in s.name} == {
        "node.deliver",
        "node.deliver.urgent",
    }
    await old.publish(
        [DeliveryTask(f"old-{s}", "m", priority=i % 5, sender=s) for i, s in enumerate(senders)]
    )
    await old.close()

    async def drain(broker: Broker, expected: set[str]) -> None:
        seen: list[str] = []

        async def record(task: DeliveryTask) -> None:
            seen.append(task.delivery_id)

        await broker.consume(record)
        await wait_for(lambda: set(seen) >= expected, f"{len(expected)} tasks")
        await asyncio.sleep(0.3)
        assert sorted(seen) == sorted(expected)

    # Restarted with four shards: the same queues (same arguments) are shard 0, backlog kept.
    wide = Broker("node", SHARDS)
    await wide.connect(amqp_url, prefetch=5, ladder=LADDER)
    try:
        await drain(wide, {f"old-{s}" for s in senders})
        await wide.stop_consuming()
        # Tasks published on four shards, then the node restarts with two.
        await wide.publish(
            [
                DeliveryTask(f"wide-{s}", "m", priority=i % 5, sender=s)
                for i, s in enumerate(senders)
            ]
        )
        assert {shard_for(s, SHARDS) for s in senders} == {0, 1, 2, 3}
    finally:
        await wide.close()
    narrow = Broker("node", 2)
    await narrow.connect(amqp_url, prefetch=5, ladder=LADDER)
    try:
        await drain(narrow, {f"wide-{s}" for s in senders})  # shards 2 and 3 are drained
    finally:
        await narrow.close()


async def test_intake_routes_by_calling_system_and_depths_are_per_shard(
    tmp_path: Path, amqp_url: str
) -> None:
    push = {"endpoint_kind": "push", "endpoint_url": "http://127.0.0.1:9/in"}
    agencies = [*AGENCIES, {"code": H17, "name": "UBND tỉnh Hòa Bình", **push}]
    settings = settings_for(tmp_path, amqp_url, directory={"agencies": agencies})
    assert settings.amqp.delivery_shards == SHARDS  # the default
    async with running_node(settings, with_workers=False) as server, aiohttp.ClientSession() as s:
        packet = document("SH1", sender=H41, to=(H17,))
        headers = sign_request(OTHER, SECRETS[OTHER], "POST", "/v1/messages", packet)
        async with s.post(str(server.make_url("/v1/messages")), data=packet, headers=headers) as r:
            assert r.status == 202
            receipt = await r.json()
        broker = server.app[appkeys.BROKER]
        names = broker.names
        assert names == Names(settings.node.code, SHARDS)
        shard_queues = {
            names.work_queue(lane, i) for lane in (NORMAL, URGENT) for i in range(SHARDS)
        }
        for name in shard_queues:  # a sentinel: queue_depths must overwrite every series
            QUEUE_MESSAGES.labels(queue=name, state="waiting").set(-1)
        depths = await broker.queue_depths()
        assert shard_queues <= set(depths)
        for name in shard_queues:
            assert QUEUE_MESSAGES.labels(queue=name, state="waiting")._value.get() == depths[name]
        home = names.work_queue(NORMAL, names.shard_of(OTHER))
        channel = await broker._connection.channel()
        queue = await channel.get_queue(home, ensure=False)
        incoming = await queue.get(timeout=10)
        task = DeliveryTask.decode(incoming.body)
        assert task.delivery_id == receipt["recipients"][0]["delivery_id"]
        assert task.sender == OTHER
        await incoming.nack(requeue=True)
        await channel.close()
