"""Delivery workers, push transport and outbox sweep, with real RabbitMQ and real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.push.signature import PushSignatureError, verify_request
from adapters.push.transport import PushTransport
from gateway.delivery.broker import Broker, DeliveryTask
from gateway.delivery.outbox import sweep
from gateway.delivery.transports import MailboxTransport
from gateway.delivery.workers import DeliveryService
from gateway.store import repository as repo
from gateway.store.blobs import FileBlobStore
from gateway.store.database import create_engine, create_schema, transaction
from tests import store_rows
from tests.loopback import LoopbackRecipient
from tests.pki import make_ca, make_leaf
from tests.services import free_port

pytestmark = pytest.mark.integration

LADDER = (0.2, 0.4)
WAIT_S = 60.0
SENDER = "000.00.00.G01"


class Recipient(LoopbackRecipient):
    """A push recipient system on loopback that verifies the node's signature."""

    path = "/edoc/inbox"
    query = "?x=1"  # a configured URL may carry a query

    def __init__(self, cert, *, fail_first: int = 0, status: int = 200) -> None:  # type: ignore[no-untyped-def]
        super().__init__(cert)
        self.fail_first = fail_first
        self.status = status
        self.received: list[tuple[str, str, bytes]] = []
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        try:
            delivery_id, body = await self.verified(request)
        except PushSignatureError:
            self.refused += 1
            return web.Response(status=401)
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503)
        self.received.append((delivery_id, request.headers["X-Edoc-Message-Id"], body))
        return web.Response(status=self.status)


@pytest.fixture
async def env(tmp_path: Path, amqp_url: str) -> AsyncIterator[dict]:
    ca = make_ca("Node CA")
    node = make_leaf(ca, "edoc node", key_type="ec")
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    await create_schema(engine)
    broker = Broker()
    await broker.connect(amqp_url, prefetch=20, ladder=LADDER)
    blobs = FileBlobStore(tmp_path / "blobs")
    push = PushTransport(None, node.key, node_code="000.00.00.G22")
    parked: list[repo.DeliveryRow] = []

    async def on_parked(row: repo.DeliveryRow) -> None:
        parked.append(row)

    service = DeliveryService(
        engine, blobs, broker, {"mailbox": MailboxTransport(), "push": push}, on_parked=on_parked
    )
    yield {
        "engine": engine,
        "broker": broker,
        "blobs": blobs,
        "service": service,
        "parked": parked,
        "cert": node.cert,
    }
    await service.stop()
    await broker.close()
    await push.close()
    await engine.dispose()


async def accept(
    engine: AsyncEngine, blobs: FileBlobStore, n: int, *recipients: tuple[str, str | None]
) -> list[repo.NewDelivery]:
    """Store ``n`` messages, one delivery per (code, push URL or None for mailbox)."""
    out: list[repo.NewDelivery] = []
    for i in range(n):
        packet = f"<edXMLEnvelope>{i}-{datetime.now(UTC).isoformat()}</edXMLEnvelope>".encode()
        key = await blobs.put(packet)
        now = datetime.now(UTC)
        msg = repo.NewMessage(
            kind="document",
            sender=SENDER,
            document_id=f"doc-{key[:8]}",
            content_sha256=key,
            blob_key=key,
            size=len(packet),
            caller_system="qlvb",
            accepted_at=now,
            legal_receipt_at=now,
            signature_status="verified",
        )
        deliveries = [
            repo.NewDelivery(code, code, "push" if url else "mailbox", url)
            for code, url in recipients
        ]
        async with transaction(engine) as conn:
            await store_rows.insert_message(conn, msg, deliveries)
        out.extend(deliveries)
    return out


async def publish(broker: Broker, engine: AsyncEngine, deliveries: list[repo.NewDelivery]) -> None:
    async with transaction(engine) as conn:
        rows = [await repo.get_delivery(conn, d.id) for d in deliveries]
    await broker.publish([DeliveryTask(r.id, r.message_id) for r in rows if r])
    async with transaction(engine) as conn:
        await repo.mark_published(conn, [d.id for d in deliveries])


async def wait_states(engine: AsyncEngine, ids: list[str], states: set[str]) -> dict[str, str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        async with transaction(engine) as conn:
            found = {i: (await repo.get_delivery(conn, i)).state for i in ids}  # type: ignore[union-attr]
        if set(found.values()) <= states or loop.time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_mailbox_delivery_becomes_visible_in_the_inbox(env: dict) -> None:
    deliveries = await accept(env["engine"], env["blobs"], 3, ("000.00.00.H01", None))
    await env["service"].start()
    await publish(env["broker"], env["engine"], deliveries)
    states = await wait_states(env["engine"], [d.id for d in deliveries], {"delivered"})
    assert set(states.values()) == {"delivered"}
    async with transaction(env["engine"]) as conn:
        items = await repo.inbox(conn, ["000.00.00.H01"], after=None, limit=10)
    assert sorted(i.delivery_id for i in items) == sorted(d.id for d in deliveries)


async def test_push_delivery_is_signed_by_the_node_and_retried_on_503(env: dict) -> None:
    recipient = Recipient(env["cert"], fail_first=2)
    await recipient.start()
    try:
        (d,) = await accept(env["engine"], env["blobs"], 1, ("000.00.00.H02", recipient.url))
        await env["service"].start()
        await publish(env["broker"], env["engine"], [d])
        states = await wait_states(env["engine"], [d.id], {"delivered"})
    finally:
        await recipient.stop()
    assert states == {d.id: "delivered"}
    assert [r[0] for r in recipient.received] == [d.id]
    assert recipient.received[0][2].startswith(b"<edXMLEnvelope>")
    assert recipient.refused == 0
    async with transaction(env["engine"]) as conn:
        row = await repo.get_delivery(conn, d.id)
    assert row is not None and row.attempts == 3  # two 503s, then delivered


async def test_4xx_parks_at_once_and_tells_the_callback(env: dict) -> None:
    recipient = Recipient(env["cert"], status=404)
    await recipient.start()
    try:
        (d,) = await accept(env["engine"], env["blobs"], 1, ("000.00.00.H03", recipient.url))
        await env["service"].start()
        await publish(env["broker"], env["engine"], [d])
        states = await wait_states(env["engine"], [d.id], {"parked"})
    finally:
        await recipient.stop()
    assert states == {d.id: "parked"}
    assert [p.id for p in env["parked"]] == [d.id]
    assert "404" in (env["parked"][0].last_error or "")


async def test_unreachable_recipient_is_parked_after_the_last_step(env: dict) -> None:
    url = f"http://127.0.0.1:{free_port()}/nobody"
    (d,) = await accept(env["engine"], env["blobs"], 1, ("000.00.00.H04", url))
    await env["service"].start()
    await publish(env["broker"], env["engine"], [d])
    states = await wait_states(env["engine"], [d.id], {"parked"})
    assert states == {d.id: "parked"}
    assert env["parked"][0].attempts == len(LADDER) + 1


async def test_redelivered_task_is_not_sent_twice(env: dict) -> None:
    recipient = Recipient(env["cert"])
    await recipient.start()
    try:
        (d,) = await accept(env["engine"], env["blobs"], 1, ("000.00.00.H05", recipient.url))
        task = DeliveryTask(d.id, (await _message_id(env["engine"], d.id)))
        await env["service"].handle(task)
        await env["service"].handle(task)  # as if RabbitMQ redelivered it
    finally:
        await recipient.stop()
    assert [r[0] for r in recipient.received] == [d.id]


async def _message_id(engine: AsyncEngine, delivery_id: str) -> str:
    async with transaction(engine) as conn:
        row = await repo.get_delivery(conn, delivery_id)
    assert row is not None
    return row.message_id


async def test_outbox_sweep_publishes_stored_but_unpublished(env: dict) -> None:
    deliveries = await accept(env["engine"], env["blobs"], 4, ("000.00.00.H06", None))
    await env["service"].start()
    assert await sweep(env["engine"], env["broker"], older_than_s=3600) == 0  # too recent
    assert await sweep(env["engine"], env["broker"], older_than_s=0) == 4
    states = await wait_states(env["engine"], [d.id for d in deliveries], {"delivered"})
    assert set(states.values()) == {"delivered"}
    assert await sweep(env["engine"], env["broker"], older_than_s=0) == 0


def test_push_signature_refuses_tampering() -> None:
    from adapters.push.signature import sign_request

    key = ec.generate_private_key(ec.SECP256R1())
    node = make_leaf(make_ca("CA"), "node", key_type="rsa")
    headers = sign_request(node.key, method="POST", path="/in", delivery_id="d1", body=b"abc")
    assert (
        verify_request(node.cert, method="POST", path="/in", headers=headers, body=b"abc") == "d1"
    )
    with pytest.raises(PushSignatureError):
        verify_request(node.cert, method="POST", path="/in", headers=headers, body=b"abd")
    with pytest.raises(PushSignatureError):
        verify_request(node.cert, method="POST", path="/other", headers=headers, body=b"abc")
    other = sign_request(key, method="POST", path="/in", delivery_id="d1", body=b"abc")
    with pytest.raises(PushSignatureError):
        verify_request(node.cert, method="POST", path="/in", headers=other, body=b"abc")
    old = sign_request(node.key, method="POST", path="/in", delivery_id="d1", body=b"x", now=1.0)
    with pytest.raises(PushSignatureError):
        verify_request(node.cert, method="POST", path="/in", headers=old, body=b"x")
