"""The authorization matrix of ``docs/authorization.md``, checked cell by cell on a live gateway.

The table is read from the document itself. For every (operation, role) cell a fresh
document goes from G22 (``SYS-G22``) to H41 (``SYS-H41``) and is delivered; the operation is
then called over HTTP as the role (bound system, another agency's system ``SYS-H14``, admin
token, nobody) and the answer classified as allowed / hidden / refused.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lxml import etree

from adapters.soap.envelope import SERVICE_NS, SOAP11_NS
from gateway.auth import sign_request
from tests.faults.cluster import (
    ADMIN_TOKEN,
    G22,
    H41,
    SECRETS,
    GatewayProcess,
    NodeConfig,
    Pki,
    document,
    report,
)
from tests.services import RabbitMQ
from tests.vxp_client import VxpTestClient, sdk_hash_file

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"
ROLES = ("bound", "other", "admin", "anonymous")
REFUSAL_CODES = {"AUTH_FAILED", "AUTH_TIMESTAMP", "AUTH_REPLAY", "FORBIDDEN", "SENDER_NOT_ALLOWED"}
_numbers = itertools.count(1)


def read_matrix(path: Path = DOC) -> dict[str, dict[str, str]]:
    """Parse the table between the ``matrix`` markers: operation -> {role or agency: value}."""
    text = path.read_text(encoding="utf-8")
    block = text.split("<!-- matrix:start -->")[1].split("<!-- matrix:end -->")[0]
    rows: dict[str, dict[str, str]] = {}
    for line in block.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        operation = re.sub(r"`", "", cells[0])
        rows[operation] = dict(zip(("agency", *ROLES), cells[1:], strict=True))
    return rows


MATRIX = read_matrix()
CELLS = [(op, role) for op in MATRIX for role in ROLES]


@dataclass
class Ctx:
    """The live node, an HTTP session, the document of this cell and the role calling."""

    url: str
    http: aiohttp.ClientSession
    role: str
    side: str  # sender | recipient | none
    message_id: str = ""

    @property
    def system(self) -> str | None:
        if self.role == "bound":
            return "SYS-G22" if self.side in ("sender", "none") else "SYS-H41"
        return "SYS-H14" if self.role == "other" else None

    def rest_headers(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        if self.role == "admin":
            return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        if self.system is None:
            return {}
        return sign_request(self.system, SECRETS[self.system], method, path, body)


@pytest.fixture(scope="module")
def node_url(rabbitmq: RabbitMQ, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("authz")
    config = NodeConfig(
        f"sqlite:///{tmp / 'store.db'}",
        rabbitmq.url(rabbitmq.new_vhost()),
        tmp / "blobs",
        Pki.create(tmp / "pki"),
    )
    process = GatewayProcess(config, tmp / "gateway.log")
    process.start()
    try:
        yield process.url
    finally:
        process.kill()


# -- REST, admin, ops ---------------------------------------------------------------------


async def rest(ctx: Ctx, method: str, path: str, body: bytes = b"", **kw: Any) -> tuple[int, Any]:
    headers = ctx.rest_headers(method, path, body)
    async with ctx.http.request(
        method, ctx.url + path, data=body or None, headers=headers, **kw
    ) as r:
        raw = await r.read()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw


def by_status(status: int, listed: bool | None = None) -> str:
    if status in (401, 403):
        return "refused"
    if status == 404:
        return "hidden"
    assert 200 <= status < 300, status
    return "allowed" if listed in (None, True) else "hidden"


def _fresh() -> bytes:
    return document(f"A{next(_numbers):05d}", sender=G22, to=(H41,))


async def rest_tokens(ctx: Ctx) -> str:
    return by_status((await rest(ctx, "POST", "/v1/tokens"))[0])


async def rest_send(ctx: Ctx) -> str:
    return by_status((await rest(ctx, "POST", "/v1/messages", _fresh()))[0])


async def rest_inbox(ctx: Ctx) -> str:
    status, body = await rest(ctx, "GET", "/v1/inbox?limit=500")
    ids = {i["message_id"] for i in body["items"]} if status == 200 else set()
    return by_status(status, ctx.message_id in ids)


async def rest_sent(ctx: Ctx) -> str:
    status, body = await rest(ctx, "GET", "/v1/sent?limit=500")
    ids = {i["message_id"] for i in body["items"]} if status == 200 else set()
    return by_status(status, ctx.message_id in ids)


async def rest_fetch(ctx: Ctx) -> str:
    return by_status((await rest(ctx, "GET", f"/v1/messages/{ctx.message_id}"))[0])


async def rest_ack(ctx: Ctx) -> str:
    return by_status((await rest(ctx, "POST", f"/v1/messages/{ctx.message_id}/ack"))[0])


async def rest_trace(ctx: Ctx) -> str:
    return by_status((await rest(ctx, "GET", f"/v1/messages/{ctx.message_id}/trace"))[0])


def plain(
    method: str, path: str, body: dict[str, Any] | None = None
) -> Callable[[Ctx], Awaitable[str]]:
    async def call(ctx: Ctx) -> str:
        data = json.dumps(body).encode() if body is not None else b""
        return by_status((await rest(ctx, method, path, data))[0])

    return call


# -- VXP ----------------------------------------------------------------------------------


def by_answer(ok: bool, code: str | None, listed: bool | None = None) -> str:
    if not ok:
        if code == "NOT_FOUND":
            return "hidden"
        assert code in REFUSAL_CODES, code
        return "refused"
    return "allowed" if listed in (None, True) else "hidden"


async def vxp(ctx: Ctx, op: str, params: dict[str, str], body: bytes | None = None) -> dict:
    if ctx.system is not None:
        client = VxpTestClient(ctx.http, ctx.url + "/vxp", ctx.system, SECRETS[ctx.system])
        return await client.call(op, params, body=body)
    headers = {f"XroadVnpt-{k}": v for k, v in params.items()}
    if ctx.role == "admin":
        headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    async with ctx.http.post(f"{ctx.url}/vxp/{op}", data=body, headers=headers) as response:
        assert response.status == 200
        return json.loads(await response.read())


async def vxp_send(ctx: Ctx) -> str:
    packet = _fresh()
    params = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"}
    answer = await vxp(ctx, "sendEdoc", {**params, "hash-file": sdk_hash_file(packet)}, packet)
    return by_answer(answer["status"] == "OK", answer.get("code"))


async def vxp_received(ctx: Ctx) -> str:
    answer = await vxp(ctx, "getReceivedEdocList", {"servicetype": "eDoc", "messagetype": "edoc"})
    ids = {i["docId"] for i in answer.get("data") or []}
    return by_answer(answer["status"] == "OK", answer.get("code"), ctx.message_id in ids)


async def vxp_get(ctx: Ctx) -> str:
    answer = await vxp(ctx, "getEdoc", {"docId": ctx.message_id})
    return by_answer(answer["status"] == "OK", answer.get("code"))


async def vxp_update(ctx: Ctx) -> str:
    answer = await vxp(ctx, "updateStatus", {"docId": ctx.message_id, "status": "done"})
    return by_answer(answer["status"] == "OK", answer.get("code"))


async def vxp_sent(ctx: Ctx) -> str:
    answer = await vxp(ctx, "getSentEdocList", {"servicetype": "eDoc"})
    ids = {i["senderDocId"] for i in answer.get("data") or []}
    return by_answer(answer["status"] == "OK", answer.get("code"), ctx.message_id in ids)


async def vxp_register(ctx: Ctx) -> str:
    record = json.dumps({"code": "000.00.00.H59", "name": "Đơn vị đăng ký thử"}).encode()
    answer = await vxp(ctx, "registerAgency", {"Content-Type": "application/json"}, record)
    return by_answer(answer["status"] == "OK", answer.get("code"))


# -- SOAP ---------------------------------------------------------------------------------


async def soap(ctx: Ctx, operation: str, children: dict[str, str]) -> tuple[bool, Any]:
    inner = "".join(f"<t:{k}>{v}</t:{k}>" for k, v in children.items())
    body = (
        f'<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:t="{SERVICE_NS}"><soap:Body>'
        f"<t:{operation}>{inner}</t:{operation}></soap:Body></soap:Envelope>"
    ).encode()
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if ctx.system is not None:
        headers.update({"X-SystemId": ctx.system, "X-SecretKey": SECRETS[ctx.system]})
    elif ctx.role == "admin":
        headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    async with ctx.http.post(ctx.url + "/soap", data=body, headers=headers) as response:
        root = etree.fromstring(await response.read())
    fault = root.find(f".//{{{SOAP11_NS}}}Fault")
    if fault is not None:
        return False, fault.findtext(f".//{{{SERVICE_NS}}}Code")
    return True, root


async def soap_send(ctx: Ctx) -> str:
    ok, result = await soap(ctx, "SendDocument", {"Packet": base64.b64encode(_fresh()).decode()})
    return by_answer(ok, None if ok else result)


async def soap_pending(ctx: Ctx) -> str:
    ok, result = await soap(ctx, "GetPendingDocumentIds", {"Limit": "500"})
    if not ok:
        return by_answer(False, result)
    ids = {e.text for e in result.iter(f"{{{SERVICE_NS}}}MessageId")}
    return by_answer(True, None, ctx.message_id in ids)


def soap_single(operation: str, **extra: str) -> Callable[[Ctx], Awaitable[str]]:
    async def call(ctx: Ctx) -> str:
        ok, result = await soap(ctx, operation, {"MessageId": ctx.message_id, **extra})
        return by_answer(ok, None if ok else result)

    return call


PERFORMERS: dict[str, Callable[[Ctx], Awaitable[str]]] = {
    "REST POST /v1/tokens": rest_tokens,
    "REST POST /v1/messages": rest_send,
    "REST GET /v1/inbox": rest_inbox,
    "REST GET /v1/sent": rest_sent,
    "REST GET /v1/messages/{id}": rest_fetch,
    "REST POST /v1/messages/{id}/ack": rest_ack,
    "REST GET /v1/messages/{id}/trace": rest_trace,
    "REST GET /v1/openapi.json": plain("GET", "/v1/openapi.json"),
    "ADMIN GET /admin/v1/agencies": plain("GET", "/admin/v1/agencies"),
    "ADMIN PUT /admin/v1/agencies/{code}": plain(
        "PUT", "/admin/v1/agencies/000.00.00.H60", {"name": "Đơn vị thử quyền"}
    ),
    "ADMIN GET /admin/v1/export": plain("GET", "/admin/v1/export"),
    "ADMIN GET /admin/v1/changes": plain("GET", "/admin/v1/changes"),
    "OPS DELETE /maintenance": plain("DELETE", "/maintenance"),
    "OPS GET /readyz": plain("GET", "/readyz"),
    "OPS GET /metrics": plain("GET", "/metrics"),
    "VXP sendEdoc": vxp_send,
    "VXP getReceivedEdocList": vxp_received,
    "VXP getEdoc": vxp_get,
    "VXP updateStatus": vxp_update,
    "VXP getSentEdocList": vxp_sent,
    "VXP registerAgency": vxp_register,
    "SOAP SendDocument": soap_send,
    "SOAP GetPendingDocumentIds": soap_pending,
    "SOAP GetDocument": soap_single("GetDocument"),
    "SOAP UpdateStatus": soap_single("UpdateStatus", Status="done"),
    "SOAP GetTraces": soap_single("GetTraces"),
}


def test_the_table_covers_every_operation_and_role() -> None:
    assert set(MATRIX) == set(PERFORMERS)
    for operation, row in MATRIX.items():
        assert row["agency"] in ("sender", "recipient", "none"), operation
        for role in ROLES:
            assert row[role] in ("allowed", "hidden", "refused"), (operation, role)
    assert len(CELLS) >= 100


async def delivered_document(url: str, http: aiohttp.ClientSession) -> str:
    """Send a fresh document G22 -> H41 and wait until it sits in H41's mailbox."""
    sender = Ctx(url, http, "bound", "sender")
    status, receipt = await rest(sender, "POST", "/v1/messages", _fresh())
    assert status == 202, receipt
    message_id = receipt["message_id"]
    for _ in range(600):
        _, trace = await rest(sender, "GET", f"/v1/messages/{message_id}/trace")
        if all(d["state"] in ("delivered", "acked") for d in trace["deliveries"]):
            return str(message_id)
        await asyncio.sleep(0.1)
    raise AssertionError("document never delivered")


@pytest.mark.parametrize(("operation", "role"), CELLS, ids=[f"{o}|{r}" for o, r in CELLS])
async def test_cell(node_url: str, operation: str, role: str) -> None:
    expected = MATRIX[operation][role]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        ctx = Ctx(node_url, http, role, MATRIX[operation]["agency"])
        if ctx.side != "none":
            ctx.message_id = await delivered_document(node_url, http)
        got = await PERFORMERS[operation](ctx)
    report(f"AUTHZ {operation} as {role}: {got}")
    assert got == expected, f"{operation} as {role}: expected {expected}, got {got}"
