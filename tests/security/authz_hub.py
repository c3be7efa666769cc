"""The hub performers of the authorization matrix, SOAP and REST v2: each presents the
cell's role as an OrganId and Token, calls its hub action and classifies the answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from tests.hub_client import (
    E,
    HubAnswer,
    HubClient,
    credentials,
    envelope,
    key_info,
    send_document_envelope,
)
from tests.security.authz_matrix import REFUSAL_CODES, Ctx, fresh, next_number, rest
from tests.world import ADMIN_TOKEN, G22, H41, SECRETS

AGENCY_OF = {"SYS-G22": G22, "SYS-H41": H41, "SYS-H14": "000.00.00.H14"}
HUB_REFUSALS = REFUSAL_CODES | {"SENDER_NOT_ALLOWED"}


def hub_identity(ctx: Ctx) -> tuple[str, str]:
    """(OrganId, Token) the role presents: its own, the admin token, or nothing valid."""
    if ctx.system is not None:
        return AGENCY_OF[ctx.system], SECRETS[ctx.system]
    organ = G22 if ctx.side in ("sender", "none") else H41
    return organ, ADMIN_TOKEN if ctx.role == "admin" else ""


def hub_client(ctx: Ctx, organ: str | None = None, token: str | None = None) -> HubClient:
    """A hub SOAP client presenting the role (or ``organ`` / ``token`` instead)."""
    own_organ, own_token = hub_identity(ctx)
    url = ctx.url + "/services/eDoc"
    return HubClient(ctx.http, url, organ or own_organ, own_token if token is None else token)


def by_report(answer: HubAnswer, listed: bool | None = None) -> str:
    """Classify a hub SOAP answer as allowed / hidden / refused."""
    report = answer.find("Report/IsSuccess")
    if report is not None and report.text != "true":
        code = answer.error_codes[0]
        if code == "NOT_FOUND":
            return "hidden"
        assert code in HUB_REFUSALS, code
        return "refused"
    return "allowed" if listed in (None, True) else "hidden"


async def document_id_of(ctx: Ctx) -> str:
    """The DocumentId of the cell's document, from its sender's trace."""
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
    """SendDocument G22 -> H41 as the role."""
    organ, token = hub_identity(ctx)
    root = send_document_envelope(
        sender=G22,
        to=[H41],
        number=f"H{next_number():05d}",
        key_organ=organ,
        token=token,
        attachments={"a": "a.pdf"},
    )
    answer = await hub_client(ctx).post(
        "SendDocument", root, {"a": ("application/pdf", b"%PDF-1.4\n%%EOF\n")}
    )
    return by_report(answer)


async def hub_pending(ctx: Ctx) -> str:
    """GetPendingDocumentIds as the role: is the cell's document listed?"""
    number = await hub_number(ctx)
    client = hub_client(ctx)
    answer = await client.simple("GetPendingDocumentIds", "GetPendingDocumentIdsRequest")
    if answer.find("Report/IsSuccess") is not None:
        return by_report(answer)
    ids = {int(str(e.text)) for e in answer.findall("DocumentIds/DocumentId")}
    return by_report(answer, number in ids)


def hub_single(action: str, wrapper: str) -> Callable[[Ctx], Awaitable[str]]:
    """A performer of a hub action on the cell's document number."""

    async def call(ctx: Ctx) -> str:
        number = await hub_number(ctx)
        extra = f"<DocumentId>{number}</DocumentId>"
        return by_report(await hub_client(ctx).simple(action, wrapper, extra))

    return call


async def hub_update(ctx: Ctx) -> str:
    """UpdateTraces (status 03) for the cell's document as the role."""
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
    """GetTraces as the role once the sender has the recipient's 01."""
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
    """CheckPermission or GetOrganizations as the role."""
    organ, token = hub_identity(ctx)
    if action == "CheckPermission":
        body = envelope("", credentials("CheckPermission", organ, token))
        return by_report(await hub_client(ctx).post(action, body))
    return by_report(await hub_client(ctx).simple(action, action))


def hub_rest_answer(status: int, body: Any, listed: bool | None = None) -> str:
    """Classify a hub REST v2 answer as allowed / hidden / refused."""
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
    """One hub REST v2 call as the role: (status, JSON body)."""
    organ, token = hub_identity(ctx)
    sent = {"organid": organ, "authorization": token, **headers}
    url = f"{ctx.url}/EdocService/{op}"
    async with ctx.http.request(method, url, headers=sent, data=body or None) as r:
        return r.status, json.loads(await r.read())


async def hub_rest_send(ctx: Ctx) -> str:
    """REST v2 sendDocument of a fresh document as the role."""
    return hub_rest_answer(*await hub_rest(ctx, "POST", "sendDocument", {"type": "EDOC"}, fresh()))


async def hub_rest_pending(ctx: Ctx) -> str:
    """REST v2 getPendingDocIds as the role: is the cell's document listed?"""
    number = await hub_number(ctx)
    status, body = await hub_rest(ctx, "GET", "getPendingDocIds", {"type": "EDOC"})
    ids = {d["docId"] for d in body.get("data") or []}
    return hub_rest_answer(status, body, number in ids)


def hub_rest_single(op: str) -> Callable[[Ctx], Awaitable[str]]:
    """A performer of a REST v2 operation on the cell's document number."""

    async def call(ctx: Ctx) -> str:
        number = await hub_number(ctx)
        return hub_rest_answer(*await hub_rest(ctx, "POST", op, {"docid": str(number)}))

    return call


HUB_PERFORMERS: dict[str, Callable[[Ctx], Awaitable[str]]] = {
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
