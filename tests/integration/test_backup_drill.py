"""The restore drill of docs/operations.md, end to end: real gateway, real RabbitMQ, real CLI.

1. A node with delivery workers accepts documents for H41's mailbox (delivered by the intake
   commit itself) and for H17's push endpoint (a real HTTP receiver on loopback, through
   RabbitMQ); H41 acknowledges some.
2. The node runs API-only (no consumer): a load keeps posting documents, their push
   deliveries sit in RabbitMQ (``published``: in flight), and ``edoc-gateway backup --to
   DIR`` runs as a separate process in the middle of it.
3. The node is wiped: database, blobs, and its broker (a new virtual host: the queued tasks
   are gone, as after the loss of the machine).
4. ``edoc-gateway restore --from DIR`` puts it back; every document accepted before the
   backup started, every delivery state and every audit record are there, identical.
5. The restored node starts with workers on the new broker: every delivery that was in flight
   at backup time reaches H17's endpoint, every restored document is in H41's inbox.
   Nothing is lost.

Run on both stores: on SQLite the packets are files of the file blob store, on PostgreSQL
rows of the database blob store (its default), carried by the dump.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from adapters.push.signature import H_MESSAGE
from gateway.audit.chain import AuditRecord
from gateway.credentials.auth import sign_request
from gateway.store.database import create_engine
from gateway.store.models import Delivery, Message
from tests.integration.gateway_node import running_node, settings_for
from tests.pki import make_ca, make_leaf, write_pems
from tests.services import RabbitMQ, free_port
from tests.world import AGENCIES, G22, H41, SECRETS, document

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
H17 = "000.00.00.H17"
RECIPIENTS = (H41, H17)


@pytest.fixture
async def push_recipient() -> AsyncIterator[tuple[set[str], str]]:
    """A push endpoint on loopback that records the message ids it was sent (answers 200)."""
    received: set[str] = set()

    async def inbound(request: web.Request) -> web.Response:
        await request.read()
        received.add(request.headers[H_MESSAGE])
        return web.json_response({"status": "OK"})

    app = web.Application(client_max_size=2**24)
    app.router.add_post("/in", inbound)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield received, f"http://127.0.0.1:{port}/in"
    finally:
        await runner.cleanup()


async def post(session: aiohttp.ClientSession, base: str, system: str, path: str, body: bytes):  # type: ignore[no-untyped-def]
    headers = sign_request(system, SECRETS[system], "POST", path, body)
    async with session.post(base + path, data=body, headers=headers) as response:
        return response.status, await response.json()


async def inbox_ids(session: aiohttp.ClientSession, base: str) -> set[str]:
    seen: set[str] = set()
    cursor = ""
    while True:
        path = "/v1/inbox?limit=500" + (f"&after={cursor}" if cursor else "")
        headers = sign_request("SYS-H41", SECRETS["SYS-H41"], "GET", path, b"")
        async with session.get(base + path, headers=headers) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        seen |= {i["message_id"] for i in body["items"]}
        cursor = body.get("next") or ""
        if not cursor or not body["items"]:
            return seen


async def cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from gateway.cli import main; main()",
        *args,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()


async def facts(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            messages = {r[0] for r in await conn.execute(select(Message.id))}
            states = dict((await conn.execute(select(Delivery.id, Delivery.state))).all())
            records = dict((await conn.execute(select(AuditRecord.seq, AuditRecord.hash))).all())
            rows = await conn.execute(select(Delivery.message_id, Delivery.recipient_code))
            to: dict[str, set[str]] = {}
            for message_id, code in rows:
                to.setdefault(code, set()).add(message_id)
            return {"messages": messages, "states": states, "audit": records, "to": to}
    finally:
        await engine.dispose()


async def test_restore_drill_under_load_loses_nothing(
    tmp_path: Path,
    rabbitmq: RabbitMQ,
    store_url: str,
    request: pytest.FixtureRequest,
    push_recipient: tuple[set[str], str],
) -> None:
    blob_dir = tmp_path / "blobs"
    pushed, push_url = push_recipient
    pems = write_pems(tmp_path / "pki", node=make_leaf(make_ca("Drill Root CA"), f"node {G22}"))
    push = {"endpoint_kind": "push", "endpoint_url": push_url}
    agencies = [*AGENCIES, {"code": H17, "name": "UBND tỉnh Hòa Bình", **push}]

    def node_settings(url: str, amqp_url: str) -> Any:
        return settings_for(
            tmp_path,
            amqp_url,
            node={
                "code": G22,
                "key_file": str(pems["node.key"]),
                "cert_file": str(pems["node.chain"]),
            },
            directory={"agencies": agencies},
            store={"url": url, "blob_dir": str(blob_dir)},
            amqp={
                "url": amqp_url,
                "retry_ladder": [1, 2],
                "outbox_interval_s": 0.5,
                "outbox_older_than_s": 0,
            },
        )

    env = {
        "EDOC_STORE__URL": store_url,
        "EDOC_STORE__BLOB_DIR": str(blob_dir),
        "EDOC_NODE__CODE": G22,
    }
    first_vhost = rabbitmq.url(rabbitmq.new_vhost())
    async with aiohttp.ClientSession() as session:
        # 1. Delivered and acknowledged documents.
        async with running_node(node_settings(store_url, first_vhost)) as server:
            base = str(server.make_url("")).rstrip("/")
            early = []
            for n in range(8):
                status, receipt = await post(
                    session,
                    base,
                    "SYS-G22",
                    "/v1/messages",
                    document(f"{n}/early", to=RECIPIENTS),
                )
                assert status == 202, receipt
                early.append(receipt["message_id"])
            for _ in range(int(WAIT_S * 10)):
                if set(early) <= await inbox_ids(session, base) and set(early) <= pushed:
                    break
                await asyncio.sleep(0.1)
            assert set(early) <= pushed
            for message_id in early[:3]:
                status, _ = await post(
                    session, base, "SYS-H41", f"/v1/messages/{message_id}/ack", b""
                )
                assert status == 200

        # 2. API-only node under load; backup in the middle of it.
        accepted: list[tuple[str, float]] = []
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def load(worker: int, base: str) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                packet = document(f"{worker}-{n}/load", to=RECIPIENTS)
                status, receipt = await post(session, base, "SYS-G22", "/v1/messages", packet)
                assert status == 202, receipt
                accepted.append((receipt["message_id"], loop.time()))

        async with running_node(
            node_settings(store_url, first_vhost), with_workers=False
        ) as server:
            base = str(server.make_url("")).rstrip("/")
            loaders = [asyncio.create_task(load(w, base)) for w in range(3)]
            while len(accepted) < 20:
                await asyncio.sleep(0.05)
            started = loop.time()
            before_backup = {m for m, _ in accepted}
            code, out = await cli("backup", "--to", str(tmp_path / "backup"), env=env)
            finished = loop.time()
            await asyncio.sleep(0.3)
            stop.set()
            await asyncio.gather(*loaders)
        assert code == 0, out
        during = [m for m, at in accepted if started <= at <= finished]
        after = [m for m, at in accepted if at > finished]
        assert during, "the load must run while the backup is taken"
        original = await facts(store_url)
        manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
        assert manifest["in_flight"] >= len(before_backup)  # one push delivery each
        # Where the packets were: files of the file blob store (SQLite) or rows of the
        # database blob store (PostgreSQL), which the dump carries.
        backed_up_files = {p.name for p in (tmp_path / "backup" / "blobs").glob("*/*/*")}
        if store_url.startswith("sqlite"):
            assert manifest["blob_store"] == "file" and not manifest["blobs_in_store"]
            assert backed_up_files == set(manifest["blobs"])
        else:
            assert manifest["blob_store"] == "database" and not backed_up_files
            assert set(manifest["blobs_in_store"]) == set(manifest["blobs"])
        assert len(manifest["blobs"]) >= len(before_backup)

        # 3. Wipe the node: store, blobs and broker.
        if store_url.startswith("sqlite"):
            for path in tmp_path.glob("store.db*"):
                path.unlink()
            restored_url = store_url
        else:
            restored_url = request.getfixturevalue("postgres_server").create_database()
        shutil.rmtree(blob_dir, ignore_errors=True)  # PostgreSQL: the blobs are rows
        env["EDOC_STORE__URL"] = restored_url

        # 4. Restore, then prove what came back.
        code, out = await cli("restore", "--from", str(tmp_path / "backup"), env=env)
        assert code == 0, out
        figures = json.loads(out.splitlines()[0])
        restored = await facts(restored_url)
        assert before_backup <= restored["messages"]
        assert set(early) <= restored["messages"]
        assert restored["messages"] <= original["messages"]
        in_flight = set()
        for delivery_id, state in restored["states"].items():
            was = original["states"][delivery_id]
            if was in ("published", "retrying", "pending"):
                assert state == "pending"
                in_flight.add(delivery_id)
            else:
                assert state == was  # delivered and acked deliveries keep their state
        # In flight at snapshot time: pending (the outbox resends them anyway) or published
        # (their task sat in the lost broker: put back to pending by the restore).
        assert manifest["in_flight"] == len(in_flight) >= 20
        assert 0 < figures["requeued"] <= len(in_flight)
        assert sorted(original["states"].values()).count("acked") == 3
        assert list(restored["states"].values()).count("acked") == 3
        head = manifest["audit_head_seq"]
        assert {s: h for s, h in restored["audit"].items() if s <= head} == {
            s: h for s, h in original["audit"].items() if s <= head
        }
        assert max(restored["audit"]) == head + 1  # the store.restored record
        print(
            f"drill: accepted={len(accepted)} before_backup={len(before_backup)} "
            f"during_backup={len(during)} after_backup={len(after)} "
            f"backup_s={finished - started:.2f} restored={len(restored['messages'])} "
            f"in_flight={len(in_flight)} requeued={figures['requeued']}"
        )
        code, out = await cli("audit", "verify", env=env)
        assert code == 0 and "intact" in out, out

        # 5. The restored node resends what was in flight, on a new broker.
        new_vhost = rabbitmq.url(rabbitmq.new_vhost())
        # Documents of the load, and the status messages of H41's acknowledgements (to G22).
        for_h41 = restored["to"][H41] - set(early[:3])
        for_h17 = restored["to"][H17] - set(pushed)
        assert len(for_h17) == len(in_flight)
        pushed.clear()
        async with running_node(node_settings(restored_url, new_vhost)) as server:
            base = str(server.make_url("")).rstrip("/")
            seen: set[str] = set()
            for _ in range(int(WAIT_S * 10)):
                seen = await inbox_ids(session, base)
                if for_h41 <= seen and for_h17 <= pushed:
                    break
                await asyncio.sleep(0.1)
            assert for_h41 <= seen
            # The packets were read back from the restored blob store and pushed again.
            assert for_h17 <= pushed
        final = await facts(restored_url)
        assert all(final["states"][d] == "delivered" for d in in_flight)
