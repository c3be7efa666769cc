"""The edge of the native API over a real socket: what a hostile caller can make it read.

The real application (``gateway.app.build_app``: SQLite store, real RabbitMQ) on loopback:
unauthenticated floods are refused from the headers before the body is read, a slow body
times out, a revoked bearer token is refused, an admin token's reads through ``/v1`` are
audited, and every refusal leaves exactly one audit record (door, caller, code, remote).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.config import load_settings
from gateway.credentials.admin import fingerprint
from gateway.credentials.auth import sign_request

pytestmark = pytest.mark.integration

G22, H41 = "000.00.00.G22", "000.00.00.H41"
SECRETS = {"SYS-G22": "secret-g22-edge", "SYS-H41": "secret-h41-edge"}
ADMIN_TOKEN = "admin-token-edge-0123456789"
FLOOD_BYTES = 100 * 2**20
SMALL_PREFIX = 8 * 2**20  # loose: socket buffers on both sides, never the whole body


@dataclass
class Edge:
    url: str
    host: str
    port: int
    store: Path
    session: aiohttp.ClientSession

    def records(self, after: int, event: str = "rejected") -> list[tuple[str | None, str, Any]]:
        with sqlite3.connect(self.store, timeout=30) as db:
            rows = db.execute(
                "SELECT actor, outcome, detail FROM audit_log WHERE event = ? AND seq > ?",
                (event, after),
            ).fetchall()
        return [(actor, outcome, json.loads(detail or "{}")) for actor, outcome, detail in rows]

    def last_seq(self) -> int:
        with sqlite3.connect(self.store, timeout=30) as db:
            return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log").fetchone()[0])


@pytest.fixture
async def node(tmp_path: Path, amqp_url: str) -> AsyncIterator[Edge]:
    store = tmp_path / "store.db"
    settings = load_settings(
        None,
        store={"url": f"sqlite:///{store}", "blob_dir": str(tmp_path / "blobs")},
        amqp={"url": amqp_url, "retry_ladder": [1, 2], "outbox_interval_s": 1.0},
        node={"code": G22},
        limits={"read_timeout_s": 1.0},  # the packet cap stays the default 150 MiB
        admin={"tokens": [ADMIN_TOKEN]},
        systems=[
            {"id": "SYS-G22", "secret": SECRETS["SYS-G22"], "agencies": [G22]},
            {"id": "SYS-H41", "secret": SECRETS["SYS-H41"], "agencies": [H41]},
        ],
        directory={
            "agencies": [
                {"code": G22, "name": "Văn phòng Chính phủ", "systems": "SYS-G22"},
                {"code": H41, "name": "UBND tỉnh Nghệ An", "systems": "SYS-H41"},
            ]
        },
    )
    server = TestServer(build_app(settings, with_workers=False), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        try:
            url = str(server.make_url("")).rstrip("/")
            yield Edge(url, "127.0.0.1", server.port or 0, store, session)
        finally:
            await server.close()


async def _flood(node: Edge, headers: dict[str, str]) -> tuple[bytes, int]:
    """POST a 100 MiB body as fast as the server takes it; return the status line and how
    many body bytes were written before the answer came."""
    reader, writer = await asyncio.open_connection(node.host, node.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {FLOOD_BYTES}\r\n{head}\r\n".encode()
    )
    answer = asyncio.ensure_future(reader.readline())
    chunk, sent = b"<" * 65536, 0
    try:
        while not answer.done() and sent < FLOOD_BYTES:
            writer.write(chunk)
            sent += len(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 0.2)
            except TimeoutError:
                await asyncio.wait({answer}, timeout=0.2)
            except ConnectionError:
                break
            await asyncio.sleep(0)
        status = await asyncio.wait_for(answer, 10)
    finally:
        writer.close()
    return status, sent


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


async def test_twenty_unauthenticated_100mib_posts_are_refused_from_the_headers(node: Edge):
    before, rss = node.last_seq(), _rss()
    unknown = sign_request("SYS-NOBODY", "guess", "POST", "/v1/messages", b"")
    kinds = [{}, {"Authorization": "Bearer not-a-token"}, unknown, {"X-Edoc-System": "SYS-G22"}]
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.gather(*(_flood(node, kinds[i % 4]) for i in range(20)))
    elapsed = loop.time() - started
    for status, sent in results:
        assert status.startswith(b"HTTP/1.1 401"), status
        assert sent < SMALL_PREFIX, f"{sent} bytes written before the refusal"
    grown = _rss() - rss
    print(
        f"EDGE flood: 20 x 100 MiB refused in {elapsed:.2f} s, at most "
        f"{max(s for _, s in results) / 2**20:.1f} MiB written each, RSS +{grown / 2**20:.0f} MiB"
    )
    assert elapsed < 10
    assert grown < 256 * 2**20  # the bodies were never held (the probe: +1.9 GiB)
    records = node.records(before)
    assert len(records) == 20  # each refusal once, at the door that decided it
    assert {outcome for _, outcome, _ in records} == {"AUTH_FAILED"}
    assert all(d["door"] == "rest" and d["remote"] == "127.0.0.1" for _, _, d in records)
    assert {d.get("claimed_system") for _, _, d in records} == {None, "SYS-NOBODY", "SYS-G22"}


async def test_a_slow_body_is_refused_408_once(node: Edge) -> None:
    before = node.last_seq()
    headers = sign_request("SYS-G22", SECRETS["SYS-G22"], "POST", "/v1/messages", b"x" * 1000)
    reader, writer = await asyncio.open_connection(node.host, node.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n{head}\r\n".encode()
        + b"x" * 10
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status.startswith(b"HTTP/1.1 408"), status
    [(actor, outcome, detail)] = node.records(before)
    assert outcome == "REQUEST_TIMEOUT" and actor is None  # the MAC was never verified
    assert detail["claimed_system"] == "SYS-G22" and detail["door"] == "rest"


async def test_a_revoked_token_is_refused_and_audited(node: Edge) -> None:
    path = "/v1/tokens"
    signed = sign_request("SYS-H41", SECRETS["SYS-H41"], "POST", path)
    async with node.session.post(node.url + path, headers=signed) as issued:
        body = await issued.json()
    bearer = {"Authorization": f"Bearer {body['token']}"}
    async with node.session.get(node.url + "/v1/inbox", headers=bearer) as ok:
        assert ok.status == 200
    revoke = f"/v1/tokens/{body['token_id']}"
    signed = sign_request("SYS-H41", SECRETS["SYS-H41"], "DELETE", revoke)
    async with node.session.delete(node.url + revoke, headers=signed) as revoked:
        assert revoked.status == 200 and (await revoked.json())["revoked"] is True
    before = node.last_seq()
    async with node.session.get(node.url + "/v1/inbox", headers=bearer) as refused:
        assert refused.status == 401
        assert (await refused.json())["error"]["code"] == "AUTH_FAILED"
    [(actor, outcome, detail)] = node.records(before)
    assert (actor, outcome, detail["door"]) == (None, "AUTH_FAILED", "rest")
    [(who, _, change)] = node.records(0, "token.revoke")
    assert who == "SYS-H41" and change["token_id"] == body["token_id"]


async def test_admin_reads_through_v1_are_audited_with_the_admin_actor(node: Edge) -> None:
    before = node.last_seq()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Admin-User": "lan"}
    async with node.session.get(node.url + "/v1/inbox?limit=5", headers=admin) as inbox:
        assert inbox.status == 200
    async with node.session.get(node.url + "/v1/sent", headers=admin) as sent:
        assert sent.status == 200
    reads = node.records(before, "admin.read")
    actor = f"admin:{fingerprint(ADMIN_TOKEN)}:lan"
    assert [(a, d["path"]) for a, _, d in reads] == [(actor, "/v1/inbox"), (actor, "/v1/sent")]
    assert all(d["remote"] == "127.0.0.1" for _, _, d in reads)


async def test_admin_and_maintenance_refusals_are_audited_once(node: Edge) -> None:
    before = node.last_seq()
    async with node.session.get(node.url + "/admin/v1/agencies") as anonymous:
        assert anonymous.status == 401
    wrong = {"Authorization": "Bearer nope", "X-Admin-User": "kẻ lạ"}
    async with node.session.post(node.url + "/maintenance", headers=wrong) as refused:
        assert refused.status == 401
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with node.session.put(
        node.url + f"/admin/v1/agencies/{H41}", data=b"{not json", headers=admin
    ) as bad:
        assert bad.status == 400 and (await bad.json())["error"]["code"] == "BAD_REQUEST"
    records = node.records(before)
    assert [(a, o, d["door"]) for a, o, d in records] == [
        (None, "AUTH_FAILED", "admin"),
        (None, "AUTH_FAILED", "ops"),
        (f"admin:{fingerprint(ADMIN_TOKEN)}", "BAD_REQUEST", "admin"),
    ]
    assert all(d["remote"] == "127.0.0.1" for _, _, d in records)


async def test_a_refusal_the_core_decides_is_audited_once_with_door_and_remote(node: Edge):
    before = node.last_seq()
    body = b"<edXML><unclosed>"
    headers = sign_request("SYS-G22", SECRETS["SYS-G22"], "POST", "/v1/messages", body)
    async with node.session.post(node.url + "/v1/messages", data=body, headers=headers) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "EDXML_NOT_WELL_FORMED"
    [(actor, outcome, detail)] = node.records(before)  # the core's record, not a second one
    assert (actor, outcome) == ("SYS-G22", "EDXML_NOT_WELL_FORMED")
    assert (detail["door"], detail["remote"]) == ("rest", "127.0.0.1") and detail["sha256"]


async def _raw(node: Edge, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(node.host, node.port)
    writer.write(request)
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return status


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/admin/v1/agencies"), ("POST", "/maintenance"), ("GET", "/v1/inbox")],
)
async def test_non_ascii_credentials_are_a_clean_401_at_every_admin_door(
    node: Edge, method: str, path: str
) -> None:
    before = node.last_seq()
    token = ADMIN_TOKEN.encode()
    for headers in (
        b"Authorization: Bearer \xff\xfe\xc3\x28\r\n",
        b"Authorization: Bearer " + token + b"\r\nX-Admin-User: \xff\xed\xa0\x80\r\n",
    ):
        request = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n".encode()
        status = await _raw(node, request + headers + b"Connection: close\r\n\r\n")
        if b"X-Admin-User" in headers:  # a valid token: the junk user name is dropped
            assert not status.startswith(b"HTTP/1.1 5"), status
        else:
            assert status.startswith(b"HTTP/1.1 401"), status
    [(actor, outcome, detail)] = node.records(before)
    assert (actor, outcome) == (None, "AUTH_FAILED") and detail["remote"] == "127.0.0.1"
