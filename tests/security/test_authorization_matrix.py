"""The authorization matrix of ``docs/authorization.md``, checked cell by cell on a live gateway.

The table is read from the document itself. For every (operation, role) cell a fresh
document goes from G22 (``SYS-G22``) to H41 (``SYS-H41``) and is delivered; the operation is
then called over HTTP as the role (bound system, another agency's system ``SYS-H14``, admin
token, nobody) and the answer classified as allowed / hidden / refused.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.credentials.auth import sign_request
from tests.faults.cluster import GatewayProcess, NodeConfig, report
from tests.hub_client import (
    E,
    HubAnswer,
    HubClient,
    credentials,
    envelope,
    key_info,
    send_document_envelope,
)
from tests.services import RabbitMQ
from tests.vxp_client import VxpTestClient, sdk_hash_file
from tests.world import ADMIN_TOKEN, G22, H41, SECRETS, Pki, document

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


# -- hub SOAP and REST v2 -------------------------------------------------------------

AGENCY_OF = {"SYS-G22": G22, "SYS-H41": H41, "SYS-H14": "000.00.00.H14"}
HUB_REFUSALS = REFUSAL_CODES | {"SENDER_NOT_ALLOWED"}


def hub_identity(ctx: Ctx) -> tuple[str, str]:
    """(OrganId, Token) the role presents: its own, the admin token, or nothing valid."""
    if ctx.system is not None:
        return AGENCY_OF[ctx.system], SECRETS[ctx.system]
    organ = G22 if ctx.side in ("sender", "none") else H41
    return organ, ADMIN_TOKEN if ctx.role == "admin" else ""


def hub_client(ctx: Ctx, organ: str | None = None, token: str | None = None) -> HubClient:
    own_organ, own_token = hub_identity(ctx)
    url = ctx.url + "/services/eDoc"
    return HubClient(ctx.http, url, organ or own_organ, own_token if token is None else token)


def by_report(answer: HubAnswer, listed: bool | None = None) -> str:
    report = answer.find("Report/IsSuccess")
    if report is not None and report.text != "true":
        code = answer.error_codes[0]
        if code == "NOT_FOUND":
            return "hidden"
        assert code in HUB_REFUSALS, code
        return "refused"
    return "allowed" if listed in (None, True) else "hidden"


async def document_id_of(ctx: Ctx) -> str:
    sender = Ctx(ctx.url, ctx.http, "bound", "sender")
    _, trace = await rest(sender, "GET", f"/v1/messages/{ctx.message_id}/trace")
    return str(trace["message"]["document_id"])


async def hub_number(ctx: Ctx) -> int:
    """The numeric id of the cell's document, as its bound recipient sees it."""
    wanted = await document_id_of(ctx)
    recipient = HubClient(ctx.http, ctx.url + "/services/eDoc", H41, SECRETS["SYS-H41"])
    for number in await recipient.pending():
        got = await recipient.get_document(number)
        if got.envelope.findtext(f".//{{{E}}}MessageHeader/{{{E}}}DocumentId") == wanted:
            return number
    raise AssertionError("document not pending for its recipient")


async def hub_send(ctx: Ctx) -> str:
    organ, token = hub_identity(ctx)
    root = send_document_envelope(
        sender=G22,
        to=[H41],
        number=f"H{next(_numbers):05d}",
        key_organ=organ,
        token=token,
        attachments={"a": "a.pdf"},
    )
    answer = await hub_client(ctx).post(
        "SendDocument", root, {"a": ("application/pdf", b"%PDF-1.4\n%%EOF\n")}
    )
    return by_report(answer)


async def hub_pending(ctx: Ctx) -> str:
    number = await hub_number(ctx)
    client = hub_client(ctx)
    answer = await client.simple("GetPendingDocumentIds", "GetPendingDocumentIdsRequest")
    if answer.find("Report/IsSuccess") is not None:
        return by_report(answer)
    ids = {int(str(e.text)) for e in answer.findall("DocumentIds/DocumentId")}
    return by_report(answer, number in ids)


def hub_single(action: str, wrapper: str) -> Callable[[Ctx], Awaitable[str]]:
    async def call(ctx: Ctx) -> str:
        number = await hub_number(ctx)
        extra = f"<DocumentId>{number}</DocumentId>"
        return by_report(await hub_client(ctx).simple(action, wrapper, extra))

    return call


async def hub_update(ctx: Ctx) -> str:
    number = await hub_number(ctx)
    organ, token = hub_identity(ctx)
    status = (
        f"<Status><From><OrganId>{organ}</OrganId></From><ResponseFor><OrganId>{G22}</OrganId>"
        f"<DocumentId>{number}</DocumentId></ResponseFor><StatusCode>3</StatusCode>"
        "<Timestamp>2024/05/10 10:00:00</Timestamp></Status>"
    )
    answer = await hub_client(ctx).post("UpdateTraces", envelope(status, key_info(organ, token)))
    return by_report(answer)


async def _traces_mention(client: HubClient, document_id: str) -> tuple[HubAnswer, bool]:
    answer = await client.traces("2000/01/01 00:00:00")
    ids = {
        s.findtext(f"{{{E}}}ResponseFor/{{{E}}}DocumentId") for s in answer.findall("Traces/Status")
    }
    return answer, document_id in ids


async def hub_traces(ctx: Ctx) -> str:
    number = await hub_number(ctx)
    recipient = HubClient(ctx.http, ctx.url + "/services/eDoc", H41, SECRETS["SYS-H41"])
    assert (await recipient.confirm(number)).ok  # the gateway tells the sender 01
    wanted = await document_id_of(ctx)
    sender = HubClient(ctx.http, ctx.url + "/services/eDoc", G22, SECRETS["SYS-G22"])
    for _ in range(600):
        if (await _traces_mention(sender, wanted))[1]:
            break
        await asyncio.sleep(0.1)
    answer, mentioned = await _traces_mention(hub_client(ctx), wanted)
    return by_report(answer, mentioned)


async def hub_plain(ctx: Ctx, action: str) -> str:
    organ, token = hub_identity(ctx)
    if action == "CheckPermission":
        body = envelope("", credentials("CheckPermission", organ, token))
        return by_report(await hub_client(ctx).post(action, body))
    return by_report(await hub_client(ctx).simple(action, action))


def hub_rest_answer(status: int, body: Any, listed: bool | None = None) -> str:
    if body.get("code") in ("0", "200"):
        return "allowed" if listed in (None, True) else "hidden"
    code = body["errors"][0]["code"]
    if code == "NOT_FOUND":
        return "hidden"
    assert code in HUB_REFUSALS, code
    assert status in (200, 401), status
    return "refused"


async def hub_rest(
    ctx: Ctx, method: str, op: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, Any]:
    organ, token = hub_identity(ctx)
    sent = {"organid": organ, "authorization": token, **headers}
    url = f"{ctx.url}/EdocService/{op}"
    async with ctx.http.request(method, url, headers=sent, data=body or None) as r:
        return r.status, json.loads(await r.read())


async def hub_rest_send(ctx: Ctx) -> str:
    return hub_rest_answer(*await hub_rest(ctx, "POST", "sendDocument", {"type": "EDOC"}, _fresh()))


async def hub_rest_pending(ctx: Ctx) -> str:
    number = await hub_number(ctx)
    status, body = await hub_rest(ctx, "GET", "getPendingDocIds", {"type": "EDOC"})
    ids = {d["docId"] for d in body.get("data") or []}
    return hub_rest_answer(status, body, number in ids)


def hub_rest_single(op: str) -> Callable[[Ctx], Awaitable[str]]:
    async def call(ctx: Ctx) -> str:
        number = await hub_number(ctx)
        return hub_rest_answer(*await hub_rest(ctx, "POST", op, {"docid": str(number)}))

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
    "HUB SendDocument": hub_send,
    "HUB GetPendingDocumentIds": hub_pending,
    "HUB GetDocument": hub_single("GetDocument", "GetDocumentRequest"),
    "HUB ConfirmReceived": hub_single("ConfirmReceived", "ConfirmReceived"),
    "HUB UpdateTraces": hub_update,
    "HUB GetTraces": hub_traces,
    "HUB CheckPermission": lambda ctx: hub_plain(ctx, "CheckPermission"),
    "HUB GetOrganizations": lambda ctx: hub_plain(ctx, "GetOrganizations"),
    "HUB-REST sendDocument": hub_rest_send,
    "HUB-REST getPendingDocIds": hub_rest_pending,
    "HUB-REST getDocument": hub_rest_single("getDocument"),
    "HUB-REST confirmReceived": hub_rest_single("confirmReceived"),
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
