"""The SOAP operations (one short handler each) and the table that dispatches to them."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web
from lxml import etree

from adapters.soap.context import context_of
from adapters.soap.envelope import SERVICE_NS, SoapRequest, element
from gateway.auth import Caller
from gateway.errors import RequestInvalid

TRANSPORT_ACKS = ("done", "fail", "processing")
MAX_LIST = 500

Handler = Callable[[web.Request, SoapRequest, Caller], Awaitable[list[etree._Element]]]


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
    receipt = await context_of(request).core.submit(raw, caller, via="soap")
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
    items = await context_of(request).core.inbox(
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
    packet = await context_of(request).core.fetch(caller, message_id)
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
        await context_of(request).core.ack(caller, message_id)
    return [element("Result", "OK")]


async def get_traces(
    request: web.Request, soap: SoapRequest, caller: Caller
) -> list[etree._Element]:
    """GetTraces: acceptance, each recipient's delivery and every status, oldest first."""
    message_id = _required(soap, "MessageId")
    trace = await context_of(request).core.trace(caller, message_id)
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
    directory = context_of(request).directory
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
