"""No loss, no double delivery: SIGKILLed gateway processes, a restarted RabbitMQ, a push
recipient that is down and comes back. Real RabbitMQ, real HTTP on loopback, real processes.

The delivery side runs as ``edoc-gateway deliveries worker`` in a subprocess that the
tests SIGKILL. After recovery every accepted delivery reached its recipient, and no
delivery id ever arrived carrying a different delivery (message or content).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.push.signature import PushSignatureError
from gateway.store import repository as repo
from gateway.store.database import create_engine, create_schema, transaction
from tests import store_rows
from tests.loopback import LoopbackRecipient
from tests.pki import make_ca, make_leaf, write_pems
from tests.services import RabbitMQ, stop_group

pytestmark = pytest.mark.integration

WAIT_S = 90.0
LADDER = "0.5,1,1,2,2,3,3,5,5,5"


class Recipient(LoopbackRecipient):
    """A push recipient recording every arrival (delivery id, message id, body hash)."""

    def __init__(self, cert, *, delay_s: float = 0.0) -> None:  # type: ignore[no-untyped-def]
        super().__init__(cert)
        self.delay_s = delay_s
        self.arrivals: list[tuple[str, str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        try:
            delivery_id, body = await self.verified(request)
        except PushSignatureError:
            return web.Response(status=401)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        message_id = request.headers["X-Edoc-Message-Id"]
        self.arrivals.append((delivery_id, message_id, hashlib.sha256(body).hexdigest()))
        return web.Response(status=204)


class Workers:
    """Starts and SIGKILLs ``edoc-gateway deliveries worker`` processes."""

    def __init__(self, config: Path, store_url: str, amqp_url: str, blobs: Path) -> None:
        self.args = [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "deliveries",
            "worker",
            "--config",
            str(config),
            "--store",
            store_url,
            "--amqp",
            amqp_url,
            "--blobs",
            str(blobs),
            "--ladder",
            LADDER,
            "--sweep-interval",
            "1",
            "--sweep-older-than",
            "1",
        ]
        self.log = config.parent / "worker.log"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs:
            stop_group(proc, timeout=15)


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    cred = make_leaf(make_ca("Node CA"), "edoc node", key_type="ec")
    paths = write_pems(tmp_path / "pki", node=cred)
    return cred, paths


@pytest.fixture
async def world(tmp_path: Path, amqp_url: str, node) -> AsyncIterator[dict]:  # type: ignore[no-untyped-def]
    cred, _ = node
    key_file = tmp_path / "node.key"
    key_file.write_bytes(cred.key_pem)
    config = tmp_path / "gateway.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [node]
            code = "000.00.00.G22"
            key_file = "{key_file}"
            [amqp]
            prefetch = 20
            """
        )
    )
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_engine(store_url)
    await create_schema(engine)
    workers = Workers(config, store_url, amqp_url, tmp_path / "blobs")
    try:
        yield {
            "engine": engine,
            "workers": workers,
            "store_url": store_url,
            "blobs": tmp_path / "blobs",
            "cert": cred.cert,
        }
    finally:
        workers.stop_all()
        await engine.dispose()


ACCEPT_SCRIPT = """
import asyncio, os, signal, sys
from datetime import UTC, datetime
from gateway.store import repository as repo
from gateway.store.blobs import FileBlobStore
from gateway.store.database import create_engine, transaction
from tests import store_rows

async def main(store_url, blob_dir, n, push_url):
    engine = create_engine(store_url)
    blobs = FileBlobStore(blob_dir)
    for i in range(n):
        packet = f"<edXMLEnvelope>packet {i} {datetime.now(UTC).isoformat()}</edXMLEnvelope>"
        key = await blobs.put(packet.encode())
        now = datetime.now(UTC)
        msg = repo.NewMessage(kind="document", sender="000.00.00.G01",
            document_id=f"doc-{key[:12]}", content_sha256=key, blob_key=key, size=len(packet),
            caller_system="qlvb", accepted_at=now, legal_receipt_at=now,
            signature_status="verified")
        deliveries = [repo.NewDelivery("000.00.00.H01", "000.00.00.H01", "mailbox"),
                      repo.NewDelivery("000.00.00.H02", "000.00.00.H02", "push", push_url)]
        async with transaction(engine) as conn:
            await store_rows.insert_message(conn, msg, deliveries)
    # stored, committed, acknowledged ... and killed before anything was published
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
"""


def accept_then_die(world: dict, n: int, push_url: str) -> None:
    """Store ``n`` messages (mailbox + push recipient) in a process SIGKILLed before publish."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            ACCEPT_SCRIPT,
            world["store_url"],
            str(world["blobs"]),
            str(n),
            push_url,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]


async def deliveries(engine: AsyncEngine) -> list[repo.DeliveryRow]:
    async with transaction(engine) as conn:
        return await store_rows.list_deliveries(conn)


async def wait_all_delivered(engine: AsyncEngine, expected: int) -> list[repo.DeliveryRow]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        async with transaction(engine) as conn:
            counts = await repo.delivery_counts(conn)
        if counts.get("delivered", 0) == expected or loop.time() > deadline:
            break
        await asyncio.sleep(0.25)
    assert counts == {"delivered": expected}, counts
    return await deliveries(engine)


async def wait_for(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not await predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def assert_exactly_the_accepted(engine: AsyncEngine, recipient: Recipient) -> None:
    """Every push delivery arrived; a delivery id never stood for two different deliveries."""
    all_rows = await deliveries(engine)
    async with transaction(engine) as conn:
        rows = {}
        for r in all_rows:
            message = await repo.get_message(conn, r.message_id)
            assert message is not None
            rows[r.id] = (r, message)
    push = {i: (r, m) for i, (r, m) in rows.items() if r.endpoint_kind == "push"}
    arrived = {delivery_id for delivery_id, _, _ in recipient.arrivals}
    assert arrived == set(push)
    for delivery_id, message_id, sha in recipient.arrivals:
        row, message = push[delivery_id]
        assert (message_id, sha) == (row.message_id, message.content_sha256)


def test_ladder_argument_is_long_enough() -> None:
    assert sum(float(s) for s in LADDER.split(",")) > 20  # outlives a RabbitMQ restart


async def test_killed_between_store_and_publish_nothing_is_lost(world: dict) -> None:
    recipient = Recipient(world["cert"])
    await recipient.start()
    try:
        accept_then_die(world, 10, recipient.url)
        async with transaction(world["engine"]) as conn:
            assert await repo.delivery_counts(conn) == {"pending": 20}
        world["workers"].start()  # its start-up sweep republishes the stored rows
        await wait_all_delivered(world["engine"], 20)
        await assert_exactly_the_accepted(world["engine"], recipient)
    finally:
        await recipient.stop()
    async with transaction(world["engine"]) as conn:
        assert len(await repo.inbox(conn, ["000.00.00.H01"], after=None, limit=100)) == 10


async def test_killed_during_delivery_every_delivery_arrives_once_per_id(world: dict) -> None:
    recipient = Recipient(world["cert"], delay_s=0.2)
    await recipient.start()
    try:
        accept_then_die(world, 30, recipient.url)
        workers = world["workers"]
        first = workers.start()

        async def some_arrived() -> bool:
            return len(recipient.arrivals) >= 3

        await wait_for(some_arrived, "the first deliveries")
        workers.kill(first)  # SIGKILL with requests in flight and tasks unacked
        assert len({a[0] for a in recipient.arrivals}) < 30
        workers.start()
        await wait_all_delivered(world["engine"], 60)
        await assert_exactly_the_accepted(world["engine"], recipient)
    finally:
        await recipient.stop()


async def test_rabbitmq_restart_with_deliveries_in_flight(world: dict, rabbitmq: RabbitMQ) -> None:
    recipient = Recipient(world["cert"], delay_s=0.1)
    await recipient.start()
    try:
        world["workers"].start()
        accept_then_die(world, 25, recipient.url)

        async def some_arrived() -> bool:
            return len(recipient.arrivals) >= 3

        await wait_for(some_arrived, "the first deliveries")
        await asyncio.to_thread(rabbitmq.stop)
        await asyncio.to_thread(rabbitmq.start)
        await wait_all_delivered(world["engine"], 50)
        await assert_exactly_the_accepted(world["engine"], recipient)
    finally:
        await recipient.stop()


async def test_push_recipient_down_then_back(world: dict) -> None:
    recipient = Recipient(world["cert"])  # not listening yet: connection refused
    accept_then_die(world, 5, recipient.url)
    world["workers"].start()

    async def retrying() -> bool:
        async with transaction(world["engine"]) as conn:
            return (await repo.delivery_counts(conn)).get("retrying", 0) == 5

    await wait_for(retrying, "failed attempts on the ladder")
    await recipient.start()
    try:
        rows = await wait_all_delivered(world["engine"], 10)
        await assert_exactly_the_accepted(world["engine"], recipient)
    finally:
        await recipient.stop()
    assert all(r.attempts >= 2 for r in rows if r.endpoint_kind == "push")
