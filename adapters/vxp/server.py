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
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from aiohttp import web

from adapters.vxp import errors as vxp
from adapters.vxp.accounts import SystemAccounts, SystemLike
from adapters.vxp.signing import (
    DEFAULT_SKEW,
    VIETNAM,
    ReplayGuard,
    SignedRequest,
    file_hash_matches,
    verify_request,
)
from edxml.errors import EdxmlError
from gateway import appkeys
from gateway.auth import Caller
from gateway.errors import (
    FileHashMismatch,
    Forbidden,
    GatewayError,
    PayloadTooLarge,
    RequestInvalid,
)

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


class Core(Protocol):
    """The core operations the VXP adapter calls (``gateway.core.Gateway``)."""

    async def submit(self, raw: bytes, caller: Caller, *, via: str = "rest") -> Any:
        """Accept a document or status packet; return its receipt."""
        ...

    async def inbox(self, caller: Caller, *, after: str | None, limit: int) -> list[Any]:
        """Return the caller's delivered, unacknowledged items after a cursor."""
        ...

    async def fetch(self, caller: Caller, message_id: str) -> bytes:
        """Return the exact packet bytes of a message addressed to the caller."""
        ...

    async def ack(self, caller: Caller, message_id: str) -> None:
        """Acknowledge the caller's delivery of a message."""
        ...

    async def sent(self, caller: Caller, **filters: Any) -> list[Any]:
        """Return what the caller's agencies sent, with per-recipient state."""
        ...

    async def trace(self, caller: Caller, message_id: str) -> Any:
        """Return every recorded event of a message the caller sent or received."""
        ...


class AgencyRegistry(Protocol):
    """Optional writer behind ``registerAgency`` / ``deleteAgency`` (the directory's owner)."""

    async def register_agency(self, caller: Caller, record: Mapping[str, Any]) -> None:
        """Register or update an agency record on behalf of ``caller``."""
        ...

    async def delete_agency(self, caller: Caller, code: str) -> None:
        """Remove (deactivate) an agency on behalf of ``caller``."""
        ...


Handler = Callable[[web.Request, SignedRequest, Caller], Awaitable[dict[str, Any]]]


@dataclass
class VxpContext:
    """What the handlers use: given to :func:`build_vxp_app` or found in the parent app."""

    core: Core
    directory: Any
    accounts: SystemAccounts
    registry: AgencyRegistry | None
    skew: timedelta
    max_bytes: int
    clock: Callable[[], datetime] | None
    guard: ReplayGuard


STATE: web.AppKey[dict[str, Any]] = web.AppKey("vxp_state", dict)


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


def _context(request: web.Request) -> VxpContext:
    state = request.app[STATE]
    context: VxpContext | None = state.get("context")
    if context is None:
        given = state["given"]
        settings = request.config_dict.get(appkeys.SETTINGS)
        limits = getattr(settings, "limits", None)
        skew = given["skew"] or (timedelta(seconds=limits.clock_skew_s) if limits else DEFAULT_SKEW)
        systems = given["systems"]
        if systems is None:
            systems = settings.systems if settings is not None else ()
        context = VxpContext(
            core=given["core"]
            if given["core"] is not None
            else request.config_dict[appkeys.GATEWAY],
            directory=(
                given["directory"]
                if given["directory"] is not None
                else request.config_dict.get(appkeys.DIRECTORY)
            ),
            accounts=SystemAccounts(systems),
            registry=given["registry"],
            skew=skew,
            max_bytes=given["max"] or (limits.max_packet_bytes if limits else 150 * 2**20),
            clock=given["clock"],
            guard=ReplayGuard(window=skew * 2),
        )
        state["context"] = context
    return context


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
    context = _context(request)
    signed = verify_request(
        request.headers,
        context.accounts.secret_for,
        now=context.clock() if context.clock else datetime.now(VIETNAM),
        skew=context.skew,
        replay_guard=context.guard,
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


def _field(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


# -- operations -------------------------------------------------------------------------


async def send_edoc(request: web.Request, signed: SignedRequest, caller: Caller) -> dict[str, Any]:
    """``sendEdoc``: the body is the raw .edxml packet; answer its ``DocId``."""
    raw = await _read_body(request)
    if not raw:
        raise RequestInvalid("empty body: the .edxml packet is expected as the request body")
    claimed = signed.get("hash-file")
    if claimed and not file_hash_matches(claimed, raw):
        raise FileHashMismatch()
    receipt = await _context(request).core.submit(raw, caller, via="vxp")
    return vxp.ok_body(DocId=receipt.message_id, receipt=receipt.as_dict())


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
    items = await _context(request).core.inbox(caller, after=None, limit=_limit(signed))
    if kind is None:
        return list(items)
    return [item for item in items if _field(item, "kind") == kind]


def _knobstick(item: Any) -> dict[str, Any]:
    # Items in the inbox are delivered and not yet acknowledged: pending for the receiver.
    return {
        "docId": _field(item, "message_id"),
        "serviceType": SERVICE_TYPE,
        "messageType": _vxp_type(_field(item, "kind", "document")),
        "from": _field(item, "sender"),
        "to": _field(item, "recipient"),
        "status": "pending",
        "status_desc": "Chờ nhận / waiting to be fetched",
        "created_time": _when(_field(item, "accepted_at")),
        "updated_time": _when(_field(item, "delivered_at") or _field(item, "accepted_at")),
        "documentId": _field(item, "document_id"),
        "contentSha256": _field(item, "content_sha256"),
    }


async def get_edoc(request: web.Request, signed: SignedRequest, caller: Caller) -> dict[str, Any]:
    """``getEdoc``: ``data`` is the base64 of the exact packet bytes."""
    doc_id = _required(signed, "docId")
    packet = await _context(request).core.fetch(caller, doc_id)
    return vxp.ok_body(data=base64.b64encode(packet).decode("ascii"))


async def update_status(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``updateStatus``: a transport acknowledgement (done | fail | processing)."""
    doc_id = _required(signed, "docId")
    status = (_required(signed, "status")).strip().lower()
    if status not in TRANSPORT_ACKS:
        raise RequestInvalid(f"status must be one of {', '.join(TRANSPORT_ACKS)}, not {status!r}")
    if status != "processing":
        await _context(request).core.ack(caller, doc_id)
    log.info("vxp.update_status", system=caller.system_id, doc_id=doc_id, status=status)
    return vxp.ok_body()


async def get_sent_edoc_list(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``getSentEdocList``: per-recipient state of what the caller sent (newest first)."""
    core = _context(request).core
    items = await core.sent(caller, limit=min(_limit(signed), SENT_LIMIT))
    kind = _message_kind(signed)
    rows: list[dict[str, Any]] = []
    for item in items:
        if kind is not None and _field(item, "kind", "document") != kind:
            continue
        trace = await core.trace(caller, _field(item, "message_id"))
        statuses = _latest_statuses(_field(trace, "statuses", ()))
        for delivery in _field(trace, "deliveries", ()) or ():
            recipient = _field(delivery, "resolved_code") or _field(delivery, "recipient_code")
            state = _field(delivery, "state")
            status_code = statuses.get(recipient) or statuses.get(
                _field(delivery, "recipient_code")
            )
            rows.append(
                {
                    "senderDocId": _field(item, "message_id"),
                    "receiverDocId": _field(item, "message_id"),
                    "serviceType": SERVICE_TYPE,
                    "messageType": _vxp_type(_field(item, "kind", "document")),
                    "fromCode": _field(item, "sender"),
                    "toCode": recipient,
                    "title": _field(item, "document_id"),
                    "notation": _field(item, "document_id"),
                    "sentTime": _when(_field(item, "accepted_at")),
                    "receivedTime": _when(
                        _field(delivery, "acked_at") or _field(delivery, "delivered_at")
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
        latest[_field(entry, "recipient_code")] = _field(entry, "status_code")
    return latest


async def get_agencies_list(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``getAgenciesList``: the directory's agencies with their old (QCVN 102) codes."""
    data = [
        {
            "id": agency.code,
            "code": agency.code,
            "name": agency.name,
            "mail": agency.mail or "",
            "pid": agency.parent_code or "",
            "oldCode": agency.old_code or "",
            "status": agency.status,
        }
        for agency in _agencies(request)
    ]
    return vxp.ok_body(data=data)


async def get_agencies_list_qd20(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``getAgenciesListQD20``: the same list keyed by QĐ 20 code, ``code102`` the old one."""
    data = [
        {
            "id": agency.code,
            "code": agency.code,
            "name": agency.name,
            "mail": agency.mail or "",
            "code102": agency.old_code or "",
            "pid": agency.parent_code or "",
            "status": agency.status,
        }
        for agency in _agencies(request)
    ]
    return vxp.ok_body(data=data)


def _agencies(request: web.Request) -> list[Any]:
    directory = _context(request).directory
    try:
        agencies = list(directory)
    except TypeError as exc:
        raise RequestInvalid("the directory cannot list its agencies") from exc
    return [a for a in agencies if getattr(a, "status", "active") != "dissolved"]


async def register_agency(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``registerAgency``: the JSON body describes the agency (code, name, pid, mail…)."""
    registry = _registry(request)
    try:
        record = json.loads(await _read_body(request) or b"{}")
    except ValueError as exc:
        raise RequestInvalid("registerAgency expects a JSON object body") from exc
    if not isinstance(record, dict) or not record.get("code"):
        raise RequestInvalid("registerAgency expects a JSON object with at least code and name")
    await registry.register_agency(caller, record)
    return vxp.ok_body()


async def delete_agency(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``deleteAgency``: the ``code`` header names the agency to remove."""
    registry = _registry(request)
    code = signed.get("code") or signed.get("agencyCode")
    if not code:
        raise RequestInvalid("deleteAgency needs the code header")
    await registry.delete_agency(caller, code)
    return vxp.ok_body()


def _registry(request: web.Request) -> AgencyRegistry:
    registry = _context(request).registry
    if registry is None:
        raise Forbidden("agency registration is not enabled on this node")
    return registry  # type: ignore[no-any-return]


def _required(signed: SignedRequest, name: str) -> str:
    value = signed.get(name)
    if not value:
        raise RequestInvalid(f"header XroadVnpt-{name} is required")
    return value


async def _read_body(request: web.Request) -> bytes:
    limit = _context(request).max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"{request.content_length} bytes > {limit}")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_chunked(65536):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


ROUTES: dict[str, Handler] = {
    "sendEdoc": send_edoc,
    "getReceivedEdocList": get_received_edoc_list,
    "getEdoc": get_edoc,
    "updateStatus": update_status,
    "getSentEdocList": get_sent_edoc_list,
    "getAgenciesList": get_agencies_list,
    "getAgenciesListQD20": get_agencies_list_qd20,
    "registerAgency": register_agency,
    "deleteAgency": delete_agency,
    "countReceiveEdoc": count_receive_edoc,
}
"""Operation name → handler: the whole VXP surface."""
