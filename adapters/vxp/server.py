"""The axis-compatible REST endpoint (VXP, SPEC §6): existing QLVB systems switch URL, not code.

Every operation is ``POST|GET /<op>`` with its parameters in signed ``XroadVnpt-`` headers
(:mod:`adapters.vxp.signing`) and a JSON answer ``{status, ErrorCode, ErrorDesc, …}`` with
HTTP 200, as the axis SDK expects. Handlers translate to the core (``gateway.core.Gateway``)
and the directory; refusals map to VXP numbers in :mod:`adapters.vxp.errors`.

``updateStatus`` ``done``/``fail``/``processing`` are transport acknowledgements, not QĐ 28
statuses: ``done`` and ``fail`` acknowledge the fetched delivery (the receiver has taken it;
``fail`` is recorded as its outcome), ``processing`` only records. Statuses 01…16 travel as
status packets through ``sendEdoc`` with ``messagetype=status``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from aiohttp import web

from adapters.vxp import agencies
from adapters.vxp import errors as vxp
from adapters.vxp.accounts import SystemLike
from adapters.vxp.context import (
    STATE,
    AgencyRegistry,
    Core,
    context_of,
    field,
    read_body,
    required,
)
from adapters.vxp.signing import VIETNAM, SignedRequest, file_hash_matches, verify_request
from edxml.errors import EdxmlError
from gateway.auth import Caller
from gateway.errors import FileHashMismatch, GatewayError, RequestInvalid

log = structlog.get_logger("adapters.vxp")

SERVICE_TYPE = "eDoc"
MESSAGE_TYPES = {"edoc": "document", "status": "status"}
TRANSPORT_ACKS = ("done", "fail", "processing")
DEFAULT_LIST_LIMIT = 500
SENT_LIMIT = 100
STATUS_NAMES = {
    "01": "Đã đến",
    "02": "Từ chối tiếp nhận",
    "03": "Đã tiếp nhận",
    "04": "Phân công",
    "05": "Đang xử lý",
    "06": "Hoàn thành",
    "13": "Lấy lại",
    "15": "Đồng ý lấy lại/cập nhật",
    "16": "Từ chối lấy lại/cập nhật",
}


Handler = Callable[[web.Request, SignedRequest, Caller], Awaitable[dict[str, Any]]]


def build_vxp_app(
    gateway: Core | None = None,
    *,
    systems: Iterable[SystemLike] | None = None,
    directory: Any = None,
    registry: AgencyRegistry | None = None,
    skew: timedelta | None = None,
    max_packet_bytes: int | None = None,
    clock: Callable[[], datetime] | None = None,
) -> web.Application:
    """Build the VXP sub-application (mount it at ``/vxp``).

    Anything not given is taken, on the first request, from the parent application through
    ``gateway.appkeys`` (``GATEWAY``, ``DIRECTORY``, ``SETTINGS``: systems, clock skew and
    packet limit). ``directory`` answers ``getAgenciesList`` (iterable of
    ``gateway.directory.Agency``); ``registry`` backs ``registerAgency``/``deleteAgency``
    (refused when absent).
    """
    app = web.Application()
    app[STATE] = {
        "given": {
            "core": gateway,
            "systems": systems,
            "directory": directory,
            "registry": registry,
            "skew": skew,
            "max": max_packet_bytes,
            "clock": clock,
        }
    }
    for name, handler in ROUTES.items():
        app.router.add_route("*", f"/{name}", _endpoint(handler), name=name)
    return app


def _endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def endpoint(request: web.Request) -> web.Response:
        if request.method not in ("GET", "POST"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        try:
            signed, caller = _authenticate(request)
            body = await handler(request, signed, caller)
        except (GatewayError, EdxmlError) as exc:
            log.info("vxp.refused", op=request.path, code=exc.code, detail=exc.detail)
            body = vxp.fail_body(exc)
        except Exception:
            log.exception("vxp.error", op=request.path)
            body = vxp.fail_body(RuntimeError())
        return web.json_response(body, dumps=_dumps)

    return endpoint


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _authenticate(request: web.Request) -> tuple[SignedRequest, Caller]:
    context = context_of(request)
    signed = context.accounts.verify_any(
        lambda secret_for: verify_request(
            request.headers,
            secret_for,
            now=context.clock() if context.clock else datetime.now(VIETNAM),
            skew=context.skew,
            replay_guard=context.guard,
        )
    )
    return signed, context.accounts.caller(signed.system_id)


def _limit(signed: SignedRequest) -> int:
    for name in ("pageSize", "limit"):
        value = signed.get(name)
        if value and value.isdigit():
            return max(1, min(int(value), DEFAULT_LIST_LIMIT))
    return DEFAULT_LIST_LIMIT


def _message_kind(signed: SignedRequest) -> str | None:
    value = (signed.get("messagetype") or "").strip().lower()
    return MESSAGE_TYPES.get(value)


def _vxp_type(kind: str) -> str:
    return "status" if kind == "status" else "edoc"


def _when(value: datetime | str | None) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        return value.strftime("%Y/%m/%d %H:%M:%S")
    return value.astimezone(VIETNAM).strftime("%Y/%m/%d %H:%M:%S")


# -- operations -------------------------------------------------------------------------


async def send_edoc(request: web.Request, signed: SignedRequest, caller: Caller) -> dict[str, Any]:
    """``sendEdoc``: the body is the raw .edxml packet; answer its ``DocId``."""
    raw = await read_body(request)
    if not raw:
        raise RequestInvalid("empty body: the .edxml packet is expected as the request body")
    claimed = signed.get("hash-file")
    if claimed and not file_hash_matches(claimed, raw):
        raise FileHashMismatch()
    hops = _hops(signed.get("hops"))
    receipt = await context_of(request).core.submit(raw, caller, via="vxp")
    if hops:
        # The core does not store hops yet: they are logged beside the message id.
        log.info("vxp.hops", message_id=receipt.message_id, hops=hops)
    return vxp.ok_body(DocId=receipt.message_id, receipt=receipt.as_dict(), hops=hops)


def _hops(value: str | None) -> list[dict[str, Any]]:
    """Parse the signed ``hops`` header: a JSON list of {node, received_at, forwarded_at}."""
    if not value:
        return []
    try:
        hops = json.loads(value)
    except ValueError as exc:
        raise RequestInvalid("the hops header is not JSON") from exc
    if not isinstance(hops, list) or not all(isinstance(h, dict) for h in hops):
        raise RequestInvalid("the hops header must be a JSON list of objects")
    keys = ("node", "received_at", "forwarded_at")
    return [{k: (None if h.get(k) is None else str(h[k])) for k in keys} for h in hops[:32]]


async def get_received_edoc_list(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``getReceivedEdocList``: the caller's pending items, filtered by ``messagetype``."""
    items = await _pending(request, signed, caller)
    return vxp.ok_body(data=[_knobstick(item) for item in items])


async def count_receive_edoc(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``countReceiveEdoc``: how many items wait for the caller."""
    items = await _pending(request, signed, caller)
    return vxp.ok_body(count=len(items))


async def _pending(request: web.Request, signed: SignedRequest, caller: Caller) -> list[Any]:
    kind = _message_kind(signed)
    items = await context_of(request).core.inbox(caller, after=None, limit=_limit(signed))
    if kind is None:
        return list(items)
    return [item for item in items if field(item, "kind") == kind]


def _knobstick(item: Any) -> dict[str, Any]:
    # Items in the inbox are delivered and not yet acknowledged: pending for the receiver.
    return {
        "docId": field(item, "message_id"),
        "serviceType": SERVICE_TYPE,
        "messageType": _vxp_type(field(item, "kind", "document")),
        "from": field(item, "sender"),
        "to": field(item, "recipient"),
        "status": "pending",
        "status_desc": "Chờ nhận / waiting to be fetched",
        "created_time": _when(field(item, "accepted_at")),
        "updated_time": _when(field(item, "delivered_at") or field(item, "accepted_at")),
        "documentId": field(item, "document_id"),
        "contentSha256": field(item, "content_sha256"),
    }


async def get_edoc(request: web.Request, signed: SignedRequest, caller: Caller) -> dict[str, Any]:
    """``getEdoc``: ``data`` is the base64 of the exact packet bytes."""
    doc_id = required(signed, "docId")
    packet = await context_of(request).core.fetch(caller, doc_id)
    return vxp.ok_body(data=base64.b64encode(packet).decode("ascii"))


async def update_status(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``updateStatus``: a transport acknowledgement (done | fail | processing)."""
    doc_id = required(signed, "docId")
    status = (required(signed, "status")).strip().lower()
    if status not in TRANSPORT_ACKS:
        raise RequestInvalid(f"status must be one of {', '.join(TRANSPORT_ACKS)}, not {status!r}")
    if status != "processing":
        await context_of(request).core.ack(caller, doc_id)
    log.info("vxp.update_status", system=caller.system_id, doc_id=doc_id, status=status)
    return vxp.ok_body()


async def get_sent_edoc_list(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``getSentEdocList``: per-recipient state of what the caller sent (newest first)."""
    core = context_of(request).core
    items = await core.sent(caller, limit=min(_limit(signed), SENT_LIMIT))
    kind = _message_kind(signed)
    rows: list[dict[str, Any]] = []
    for item in items:
        if kind is not None and field(item, "kind", "document") != kind:
            continue
        trace = await core.trace(caller, field(item, "message_id"))
        statuses = _latest_statuses(field(trace, "statuses", ()))
        for delivery in field(trace, "deliveries", ()) or ():
            recipient = field(delivery, "resolved_code") or field(delivery, "recipient_code")
            state = field(delivery, "state")
            status_code = statuses.get(recipient) or statuses.get(field(delivery, "recipient_code"))
            rows.append(
                {
                    "senderDocId": field(item, "message_id"),
                    "receiverDocId": field(item, "message_id"),
                    "serviceType": SERVICE_TYPE,
                    "messageType": _vxp_type(field(item, "kind", "document")),
                    "fromCode": field(item, "sender"),
                    "toCode": recipient,
                    "title": field(item, "document_id"),
                    "notation": field(item, "document_id"),
                    "sentTime": _when(field(item, "accepted_at")),
                    "receivedTime": _when(
                        field(delivery, "acked_at") or field(delivery, "delivered_at")
                    ),
                    "sendStatus": state,
                    "sendStatusDesc": state,
                    "receiveStatus": status_code or "",
                    "receiveStatusDesc": STATUS_NAMES.get(status_code or "", ""),
                }
            )
    return vxp.ok_body(data=rows)


def _latest_statuses(history: Iterable[Any]) -> dict[str, str]:
    latest: dict[str, str] = {}
    for entry in history or ():
        latest[field(entry, "recipient_code")] = field(entry, "status_code")
    return latest


ROUTES: dict[str, Handler] = {
    "sendEdoc": send_edoc,
    "getReceivedEdocList": get_received_edoc_list,
    "getEdoc": get_edoc,
    "updateStatus": update_status,
    "getSentEdocList": get_sent_edoc_list,
    "getAgenciesList": agencies.get_agencies_list,
    "getAgenciesListQD20": agencies.get_agencies_list_qd20,
    "registerAgency": agencies.register_agency,
    "deleteAgency": agencies.delete_agency,
    "countReceiveEdoc": count_receive_edoc,
}
"""Operation name → handler: the whole VXP surface."""
