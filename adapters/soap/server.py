"""The SOAP 1.1 / 1.2 endpoint for older provincial hubs (static WSDL, document/literal).

``GET /soap?wsdl`` serves ``schemas/edoc-gateway.wsdl`` with its addresses set to where it was
fetched from; ``POST /soap`` dispatches on the Body child's QName to a short handler that calls
the core. Every failure becomes a SOAP fault of the request's version, never a stack trace:
refusals of the core and of ``edxml`` map through :data:`SOAP_FAULTS`; anything unexpected is
logged and answered with a generic ``Server``/``Receiver`` fault.

Authentication: a WS-Security UsernameToken in the SOAP Header (Username = system id,
Password = secret) or the HTTP headers ``X-SystemId`` / ``X-SecretKey``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from lxml import etree

from adapters.soap.envelope import (
    SERVICE_NS,
    SoapFault,
    SoapRequest,
    SoapVersion,
    element,
    fault,
    parse_request,
    response,
)
from adapters.vxp.accounts import SystemAccounts, SystemLike
from adapters.vxp.context import Core
from edxml.errors import EdxmlError
from gateway import appkeys
from gateway.auth import Caller
from gateway.errors import AuthError, GatewayError, PayloadTooLarge, RequestInvalid

log = structlog.get_logger("adapters.soap")

WSDL_PATH = Path(__file__).resolve().parents[2] / "schemas" / "edoc-gateway.wsdl"
_PLACEHOLDER = b'location="http://localhost/soap"'
TRANSPORT_ACKS = ("done", "fail", "processing")
MAX_LIST = 500

SERVER_SIDE_CODES = frozenset(
    {"GATEWAY_ERROR", "UNAVAILABLE", "STORE_ERROR", "BROKER_ERROR", "MAINTENANCE"}
)
"""Core codes answered as ``Server`` (1.1) / ``Receiver`` (1.2) faults: retrying may help.
Every other refusal is the caller's (``Client`` / ``Sender``)."""


def soap_fault_for(error: BaseException) -> SoapFault:
    """Map a core or edXML refusal (or anything else) to the SOAP fault that answers it."""
    if isinstance(error, SoapFault):
        return error
    if isinstance(error, GatewayError | EdxmlError):
        return SoapFault(
            error.code,
            error.text_vi,
            error.text_en,
            sender=error.code not in SERVER_SIDE_CODES,
            path=error.path,
        )
    return SoapFault("GATEWAY_ERROR", "Lỗi hệ thống", "Internal error", sender=False)


Handler = Callable[[web.Request, SoapRequest, Caller], Awaitable[list[etree._Element]]]

STATE: web.AppKey[dict[str, Any]] = web.AppKey("soap_state", dict)


@dataclass
class SoapContext:
    """What the handlers use: given to :func:`build_soap_app` or found in the parent app."""

    core: Core
    directory: Any
    accounts: SystemAccounts
    limit: int
    wsdl: bytes


def build_soap_app(
    gateway: Core | None = None,
    *,
    systems: Iterable[SystemLike] | None = None,
    directory: Any = None,
    max_packet_bytes: int | None = None,
    wsdl_path: Path = WSDL_PATH,
) -> web.Application:
    """Build the SOAP sub-application (mount it at ``/soap``).

    Anything not given is taken, on the first request, from the parent application through
    ``gateway.appkeys`` (``GATEWAY``, ``DIRECTORY``, ``SETTINGS``).
    """
    app = web.Application()
    app[STATE] = {
        "given": {
            "core": gateway,
            "systems": systems,
            "directory": directory,
            "max": max_packet_bytes,
            "wsdl": Path(wsdl_path).read_bytes(),
        }
    }
    app.router.add_route("GET", "", serve_wsdl, name="wsdl")
    app.router.add_route("POST", "", dispatch, name="soap")
    return app


def _context(request: web.Request) -> SoapContext:
    state = request.app[STATE]
    context: SoapContext | None = state.get("context")
    if context is None:
        given = state["given"]
        settings = request.config_dict.get(appkeys.SETTINGS)
        limits = getattr(settings, "limits", None)
        systems = given["systems"]
        if systems is None:
            systems = settings.systems if settings is not None else ()
        max_bytes = given["max"] or (limits.max_packet_bytes if limits else 150 * 2**20)
        context = SoapContext(
            core=given["core"]
            if given["core"] is not None
            else request.config_dict[appkeys.GATEWAY],
            directory=(
                given["directory"]
                if given["directory"] is not None
                else request.config_dict.get(appkeys.DIRECTORY)
            ),
            accounts=SystemAccounts(systems),
            # base64 grows the packet by 4/3, plus the envelope around it.
            limit=max_bytes * 4 // 3 + 64 * 1024,
            wsdl=given["wsdl"],
        )
        state["context"] = context
    return context


async def serve_wsdl(request: web.Request) -> web.Response:
    """Serve the WSDL with its ``soap:address`` pointing at this endpoint."""
    if "wsdl" not in {key.lower() for key in request.query}:
        raise web.HTTPNotFound(text="GET ?wsdl for the service description")
    address = str(request.url.with_query(None))
    text = _context(request).wsdl.replace(
        _PLACEHOLDER, b'location="' + _xml_attr(address).encode("utf-8") + b'"'
    )
    return web.Response(body=text, content_type="text/xml", charset="utf-8")


def _xml_attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


async def dispatch(request: web.Request) -> web.Response:
    """Parse the envelope, authenticate, run the operation, answer a response or a fault."""
    version = SoapVersion.V11
    try:
        body = await _read(request)
        soap = parse_request(body, request.headers.get("Content-Type", ""))
        version = soap.version
        handler = OPERATIONS.get(etree.QName(soap.operation).text)
        if handler is None:
            raise SoapFault(
                "SOAP_UNKNOWN_OPERATION",
                "Thao tác không được hỗ trợ",
                f"Unknown operation {etree.QName(soap.operation).text}",
            )
        caller = _authenticate(request, soap)
        children = await handler(request, soap, caller)
        payload = response(version, soap.name, children)
        return _reply(payload, version, 200)
    except (SoapFault, GatewayError, EdxmlError) as exc:
        error = soap_fault_for(exc)
        version = error.version or version
        log.info("soap.fault", code=error.code, detail=str(exc))
    except Exception:
        log.exception("soap.error")
        error = soap_fault_for(RuntimeError())
    status = 400 if version is SoapVersion.V12 and error.sender else 500
    return _reply(fault(version, error), version, status)


def _reply(payload: bytes, version: SoapVersion, status: int) -> web.Response:
    return web.Response(
        body=payload, status=status, content_type=version.content_type, charset="utf-8"
    )


async def _read(request: web.Request) -> bytes:
    limit = _context(request).limit
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


def _authenticate(request: web.Request, soap: SoapRequest) -> Caller:
    accounts = _context(request).accounts
    token = soap.username_token()
    if token is not None:
        return accounts.check_secret(*token)
    system_id = request.headers.get("X-SystemId")
    secret = request.headers.get("X-SecretKey")
    if system_id and secret:
        return accounts.check_secret(system_id, secret)
    raise AuthError("a WS-Security UsernameToken or X-SystemId/X-SecretKey is required")


def _required(soap: SoapRequest, name: str) -> str:
    value = soap.text(name)
    if not value:
        raise RequestInvalid(f"{soap.name}/{name} is required")
    return value


def _int(soap: SoapRequest, name: str, default: int) -> int:
    value = soap.text(name)
    if value is None or value == "":
        return default
    try:
        return max(1, min(int(value), MAX_LIST))
    except ValueError as exc:
        raise RequestInvalid(f"{soap.name}/{name} must be an integer") from exc


def _field(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _optional(name: str, value: Any) -> list[etree._Element]:
    return [] if value is None or value == "" else [element(name, value)]


# -- operations -------------------------------------------------------------------------


async def send_document(
    request: web.Request, soap: SoapRequest, caller: Caller
) -> list[etree._Element]:
    """SendDocument: submit the base64 packet; answer the receipt."""
    try:
        raw = base64.b64decode(_required(soap, "Packet"), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise RequestInvalid("SendDocument/Packet is not base64") from exc
    receipt = await _context(request).core.submit(raw, caller, via="soap")
    signature = receipt.signature or {}
    children = [
        element("MessageId", receipt.message_id),
        *_optional("DocumentId", receipt.document_id),
        element("ContentSha256", receipt.content_sha256),
        element("AcceptedAt", _iso(receipt.accepted_at)),
        *_optional("LegalReceiptAt", _iso(receipt.legal_receipt_at)),
        *_optional("SignatureStatus", signature.get("status")),
        element("Duplicate", bool(receipt.duplicate)),
    ]
    for recipient in receipt.recipients:
        children.append(
            element(
                "Recipient",
                None,
                element("Code", recipient.get("code")),
                *_optional("ResolvedCode", recipient.get("resolved_code")),
                element("State", recipient.get("state")),
            )
        )
    return children


async def get_pending_document_ids(
    request: web.Request, soap: SoapRequest, caller: Caller
) -> list[etree._Element]:
    """GetPendingDocumentIds: the caller's delivered, unacknowledged messages."""
    items = await _context(request).core.inbox(
        caller, after=soap.text("After") or None, limit=_int(soap, "Limit", MAX_LIST)
    )
    return [
        element(
            "Item",
            None,
            element("MessageId", _field(item, "message_id")),
            element("Kind", _field(item, "kind")),
            *_optional("From", _field(item, "sender")),
            *_optional("To", _field(item, "recipient")),
            *_optional("DocumentId", _field(item, "document_id")),
            *_optional("AcceptedAt", _iso(_field(item, "accepted_at"))),
        )
        for item in items
    ]


async def get_document(
    request: web.Request, soap: SoapRequest, caller: Caller
) -> list[etree._Element]:
    """GetDocument: the exact packet bytes, base64."""
    message_id = _required(soap, "MessageId")
    packet = await _context(request).core.fetch(caller, message_id)
    return [
        element("MessageId", message_id),
        element("Packet", base64.b64encode(packet).decode("ascii")),
    ]


async def update_status(
    request: web.Request, soap: SoapRequest, caller: Caller
) -> list[etree._Element]:
    """UpdateStatus: a transport acknowledgement (done | fail | processing)."""
    message_id = _required(soap, "MessageId")
    status = _required(soap, "Status").lower()
    if status not in TRANSPORT_ACKS:
        raise RequestInvalid(f"UpdateStatus/Status must be one of {', '.join(TRANSPORT_ACKS)}")
    if status != "processing":
        await _context(request).core.ack(caller, message_id)
    return [element("Result", "OK")]


async def get_traces(
    request: web.Request, soap: SoapRequest, caller: Caller
) -> list[etree._Element]:
    """GetTraces: acceptance, each recipient's delivery and every status, oldest first."""
    message_id = _required(soap, "MessageId")
    trace = await _context(request).core.trace(caller, message_id)
    children = [element("MessageId", message_id)]
    children.extend(_event(**event) for event in sorted(trace_events(trace), key=_at_key))
    return children


def trace_events(trace: Any) -> list[dict[str, Any]]:
    """Flatten a core ``Trace`` into events: ``at``, ``event``, ``node``, ``agency``,
    ``state``, ``detail``."""
    message = _field(trace, "message", {}) or {}
    events: list[dict[str, Any]] = [
        {
            "at": message.get("accepted_at"),
            "event": "accepted",
            "agency": message.get("sender"),
            "state": message.get("signature_status"),
        }
    ]
    for hop in _field(trace, "hops", ()) or ():
        events.append(
            {
                "at": _field(hop, "received_at"),
                "event": "hop",
                "node": _field(hop, "node"),
                "detail": f"forwarded_at={_field(hop, 'forwarded_at')}",
            }
        )
    for delivery in _field(trace, "deliveries", ()) or ():
        events.append(
            {
                "at": delivery.get("acked_at") or delivery.get("delivered_at"),
                "event": "delivery",
                "agency": delivery.get("resolved_code"),
                "state": delivery.get("state"),
                "detail": delivery.get("last_error"),
            }
        )
    for status in _field(trace, "statuses", ()) or ():
        events.append(
            {
                "at": status.get("at"),
                "event": f"status {status.get('status_code')}",
                "agency": status.get("recipient_code"),
                "state": status.get("status_code"),
                "detail": status.get("status_message_id"),
            }
        )
    return events


def _at_key(event: Mapping[str, Any]) -> str:
    return _iso(event.get("at")) or ""


def _event(
    *,
    at: Any,
    event: str,
    node: Any = None,
    agency: Any = None,
    state: Any = None,
    detail: Any = None,
) -> etree._Element:
    return element(
        "Event",
        None,
        element("At", _iso(at) or ""),
        element("Event", event),
        *_optional("Node", node),
        *_optional("Agency", agency),
        *_optional("State", state),
        *_optional("Detail", _detail(detail)),
    )


def _detail(value: Any) -> str | None:
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


async def get_organizations(
    request: web.Request, soap: SoapRequest, caller: Caller
) -> list[etree._Element]:
    """GetOrganizations: the directory's agencies, optionally searched by name or code."""
    directory = _context(request).directory
    text = soap.text("Search")
    limit = _int(soap, "Limit", MAX_LIST)
    if text and hasattr(directory, "search"):
        agencies = list(directory.search(text, limit=limit))
    else:
        agencies = list(directory)[:limit]
    return [
        element(
            "Organization",
            None,
            element("Code", agency.code),
            *_optional("OldCode", agency.old_code),
            element("Name", agency.name),
            *_optional("ParentCode", agency.parent_code),
            element("Status", agency.status),
        )
        for agency in agencies
    ]


OPERATIONS: dict[str, Handler] = {
    f"{{{SERVICE_NS}}}SendDocument": send_document,
    f"{{{SERVICE_NS}}}GetPendingDocumentIds": get_pending_document_ids,
    f"{{{SERVICE_NS}}}GetDocument": get_document,
    f"{{{SERVICE_NS}}}UpdateStatus": update_status,
    f"{{{SERVICE_NS}}}GetTraces": get_traces,
    f"{{{SERVICE_NS}}}GetOrganizations": get_organizations,
}
"""Body child QName → handler: the whole SOAP surface (mirrors the WSDL's portType)."""
