"""VXP mailbox operations: ``sendEdoc``, the received and sent lists, the counts, ``getEdoc``,
``downloadEdoc`` and ``updateStatus`` (interop/VXP-SDK.md).

Every operation is idempotent under replay, which the ``sdk`` authentication profile relies
on: a repeated ``sendEdoc`` stores nothing new and answers the original ``DocId`` (the core
keys packets by sender, DocumentId, content hash and kind); a repeated ``updateStatus``
changes nothing (only a delivered, unacknowledged delivery moves); the rest only read.

``updateStatus`` ``done``/``fail``/``processing`` are transport acknowledgements, not QĐ 28
statuses: ``done`` confirms arrival (the sender gets status 01 once), ``fail`` refuses the
transfer (the delivery is ``failed``, never 01), ``processing`` only records. Statuses
01…16 travel as status packets through ``sendEdoc`` with ``messagetype=status``.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime
from typing import Any

import structlog
from aiohttp import web

from adapters.vxp import errors as vxp
from adapters.vxp.context import context_of, read_body, required
from adapters.vxp.sdk_wire import CRLF
from adapters.vxp.signing import VIETNAM, SignedRequest, file_hash_matches
from edxml.errors import EdxmlError
from gateway.core.hops import parse_hops_text
from gateway.core.views import InboxItem, RecipientState, SentItem
from gateway.credentials.auth import Caller
from gateway.errors import FileHashMismatch, GatewayError, RequestInvalid

log = structlog.get_logger("adapters.vxp")

BODY_KEY = web.RequestKey("vxp.body", bytes)  # typed: aiohttp warns on str request keys
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
SEND_STATUSES = {
    "pending": ("pending", "Đang chuyển / being routed"),
    "published": ("pending", "Đang chuyển / being routed"),
    "retrying": ("retrying", "Đang thử chuyển lại / retrying"),
    "parked": ("parked", "Chuyển không thành công / delivery given up"),
    "delivered": ("delivered", "Đã chuyển, chờ nhận / delivered, waiting to be fetched"),
    "acked": ("acked", "Đơn vị nhận đã nhận / fetched and acknowledged"),
    "failed": ("fail", "Đơn vị nhận từ chối tiếp nhận / transfer refused by the recipient"),
}


class CoreRefused(Exception):
    """A refusal the core decided and already audited (``Gateway.submit``)."""

    def __init__(self, error: GatewayError | EdxmlError) -> None:
        self.error = error
        super().__init__(str(error))


def _message_kind(signed: SignedRequest) -> str | None:
    value = (signed.get("messagetype") or "").strip().lower()
    return MESSAGE_TYPES.get(value)


def _vxp_type(kind: str) -> str:
    return "status" if kind == "status" else "edoc"


def _limit(signed: SignedRequest) -> int:
    for name in ("pageSize", "limit"):
        value = signed.get(name)
        if value and value.isdigit():
            return max(1, min(int(value), DEFAULT_LIST_LIMIT))
    return DEFAULT_LIST_LIMIT


def when(value: datetime | str | None) -> str:
    """Render a time as the axis does (``yyyy/MM/dd HH:mm:ss``, Vietnam time); ``""`` if none."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        return moment.strftime("%Y/%m/%d %H:%M:%S")
    return moment.astimezone(VIETNAM).strftime("%Y/%m/%d %H:%M:%S")


def packet_as_sent(raw: bytes, claimed: str) -> bytes:
    """Return the packet a ``sendEdoc`` body carries, checked against its signed ``hash-file``.

    The SDK writes the file followed by ``\\r\\n`` and hashes the file without it: the hash
    is checked on the body less one trailing CRLF first (that is the packet then), then on
    the body as sent. Raises :class:`FileHashMismatch` when neither matches.
    """
    if raw.endswith(CRLF) and file_hash_matches(claimed, raw[: -len(CRLF)]):
        return raw[: -len(CRLF)]
    if file_hash_matches(claimed, raw):
        return raw
    raise FileHashMismatch("hash-file matches neither the body nor the body less its CRLF")


# -- operations -------------------------------------------------------------------------


async def send_edoc(request: web.Request, signed: SignedRequest, caller: Caller) -> dict[str, Any]:
    """``sendEdoc``: the body is the raw .edxml packet; answer its ``DocId``."""
    for name in ("from", "servicetype", "messagetype"):
        required(signed, name)
    if _message_kind(signed) is None:
        raise RequestInvalid("messagetype must be edoc or status")
    raw = await read_body(request)
    request[BODY_KEY] = raw
    if not raw:
        raise RequestInvalid("empty body: the .edxml packet is expected as the request body")
    claimed = signed.params.get("hash-file")
    if not claimed:
        raise FileHashMismatch("sendEdoc needs a signed hash-file header")
    packet = packet_as_sent(raw, claimed)
    request[BODY_KEY] = packet
    hops = parse_hops_text(signed.get("hops"))  # signed: authenticated as the caller's
    core = context_of(request).core
    try:  # a duplicate is answered by the core itself: the original receipt, OK
        receipt = await core.submit(
            packet, replace(caller, remote=request.remote), via="vxp", hops=hops
        )
    except (GatewayError, EdxmlError) as exc:
        raise CoreRefused(exc) from exc
    return vxp.ok_body(
        DocId=receipt.message_id, receipt=receipt.as_dict(), hops=[h.wire() for h in hops]
    )


async def get_received_edoc_list(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``getReceivedEdocList``: the caller's pending items, filtered by ``messagetype``."""
    required(signed, "servicetype")
    items = await _pending(request, signed, caller, _message_kind(signed))
    return vxp.ok_body(data=[_knobstick(item) for item in items])


async def count_receive_edoc(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``countReceiveEdoc``: how many items of ``messagetype`` (default edoc) wait."""
    required(signed, "servicetype")
    kind = _message_kind(signed) or "document"
    return vxp.ok_body(count=len(await _pending(request, signed, caller, kind)))


async def count_receive_status(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``countReceiveStatus``: how many status packets wait (whatever ``messagetype`` says:
    a long-lived SDK object still carries the last call's)."""
    required(signed, "servicetype")
    return vxp.ok_body(count=len(await _pending(request, signed, caller, "status")))


async def _pending(
    request: web.Request, signed: SignedRequest, caller: Caller, kind: str | None
) -> list[Any]:
    items = await context_of(request).core.inbox(caller, after=None, limit=_limit(signed))
    if kind is None:
        return list(items)
    return [item for item in items if item.kind == kind]


def _knobstick(item: InboxItem) -> dict[str, Any]:
    # Items in the inbox are delivered and not yet acknowledged: pending for the receiver.
    return {
        "docId": item.message_id,
        "serviceType": SERVICE_TYPE,
        "messageType": _vxp_type(item.kind),
        "from": item.sender,
        "to": item.recipient,
        "status": "pending",
        "status_desc": "Chờ nhận / waiting to be fetched",
        "created_time": when(item.accepted_at),
        "updated_time": when(item.delivered_at or item.accepted_at),
        "documentId": item.document_id,
        "contentSha256": item.content_sha256,
    }


async def get_edoc(request: web.Request, signed: SignedRequest, caller: Caller) -> dict[str, Any]:
    """``getEdoc``: ``data`` is the base64 of the exact packet bytes; ``hops`` (beside the
    fields the SDK reads) the path a node pulling from here stores: the hops the message
    came with, then this node's own (``gateway.core.hops``)."""
    doc_id = required(signed, "docId")
    core = context_of(request).core
    packet = await core.fetch(caller, doc_id)
    hops = [h.wire() for h in await core.onward_hops(doc_id, caller)]
    return vxp.ok_body(data=base64.b64encode(packet).decode("ascii"), hops=hops)


async def download_edoc(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> web.StreamResponse:
    """``downloadEdoc``: a GET answered with the raw packet bytes."""
    doc_id = required(signed, "docId")
    packet = await context_of(request).core.fetch(caller, doc_id)
    return web.Response(body=packet, content_type="application/octet-stream")


async def update_status(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``updateStatus``: a transport acknowledgement (done | fail | processing).

    The SDK puts ``docid`` (``getEdoc`` put ``docId`` into the same map): ``docid`` is read
    first, any other spelling after it.
    """
    doc_id = required(signed, "docid")
    status = (required(signed, "status")).strip().lower()
    if status not in TRANSPORT_ACKS:
        raise RequestInvalid(f"status must be one of {', '.join(TRANSPORT_ACKS)}, not {status!r}")
    core = context_of(request).core
    if status == "done":
        await core.ack(caller, doc_id)
    elif status == "fail":
        await core.refuse(caller, doc_id, "updateStatus fail: the recipient refused the transfer")
    log.info("vxp.update_status", system=caller.system_id, doc_id=doc_id, status=status)
    return vxp.ok_body()


async def get_sent_edoc_list(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``getSentEdocList``: per-recipient state of what the caller sent (newest first)."""
    required(signed, "servicetype")
    core = context_of(request).core
    items = await core.sent(caller, limit=min(_limit(signed), SENT_LIMIT))
    kind = _message_kind(signed)
    rows = [
        _sent_row(item, recipient)
        for item in items
        if kind is None or item.kind == kind
        for recipient in item.recipients
    ]
    return vxp.ok_body(data=rows)


def _sent_row(item: SentItem, recipient: RecipientState) -> dict[str, Any]:
    send_status, send_desc = SEND_STATUSES.get(recipient.state, (recipient.state,) * 2)
    status_code = recipient.status_code or ""
    return {
        "senderDocId": item.message_id,
        "receiverDocId": item.message_id,
        "serviceType": SERVICE_TYPE,
        "messageType": _vxp_type(item.kind),
        "fromCode": item.sender,
        "toCode": recipient.resolved_code or recipient.recipient_code,
        "title": item.document_id,
        "notation": item.document_id,
        "sentTime": when(item.accepted_at),
        "receivedTime": when(recipient.acked_at or recipient.delivered_at),
        "sendStatus": send_status,
        "sendStatusDesc": send_desc,
        "receiveStatus": status_code,
        "receiveStatusDesc": STATUS_NAMES.get(status_code, ""),
    }
