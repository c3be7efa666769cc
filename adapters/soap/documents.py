"""The hub's document actions: SendDocument, GetPendingDocumentIds, GetDocument,
ConfirmReceived, GetOrganizations and CheckPermission. Each translates to one core call."""

from __future__ import annotations

from typing import Any

from adapters.soap.calls import Answer, Call, message_of, number_of, off_loop
from adapters.soap.envelope import document_envelope, report
from edxml.build import build
from edxml.edoc_vn import read_document
from edxml.edoc_vn_build import attachment_parts, document_header, element, manifest
from edxml.model import Envelope
from edxml.parse import parse
from gateway.errors import NotFound, RequestInvalid, SenderNotAllowed

INBOX_PAGE = 500
INBOX_MAX = 10_000


async def send_document(call: Call) -> Answer:
    """SendDocument: the old-namespace packet becomes a QCVN 102 packet the core accepts."""
    soap = call.soap
    if soap.header is None:
        raise RequestInvalid("SendDocument needs a SOAP Header with MessageHeader")
    parts = await call.parts()
    size = sum(len(p.data) for p in parts.values())
    envelope = await off_loop(size, read_document, soap.header, soap.body, parts)
    if envelope.sender != call.organ_id:
        # The hub never compares them; we do, or any agency could send as another.
        raise SenderNotAllowed(f"KeyInfo/OrganId {call.organ_id} is not From {envelope.sender}")
    raw = await off_loop(size, build, envelope)
    receipt = await call.ctx.core.submit(raw, call.caller, via="soap")
    number = await number_of(call.ctx, receipt.message_id)
    return Answer([report(), element("DocumentId", number)])


async def pending_items(call: Call, kind: str) -> list[Any]:
    """Return the caller's undelivered-to-client items of ``kind`` for its ``OrganId``."""
    found: list[Any] = []
    after: str | None = None
    while len(found) < INBOX_MAX:
        page = await call.ctx.core.inbox(call.caller, after=after, limit=INBOX_PAGE)
        found.extend(i for i in page if i.kind == kind and i.recipient == call.organ_id)
        if len(page) < INBOX_PAGE:
            break
        after = page[-1].cursor
    return found


async def get_pending_document_ids(call: Call) -> Answer:
    """GetPendingDocumentIds: numeric ids of documents delivered and not yet confirmed."""
    ids = element("DocumentIds")
    for item in await pending_items(call, "document"):
        ids.append(element("DocumentId", await number_of(call.ctx, item.message_id)))
    return Answer([ids])


async def load_document(call: Call, message_id: str) -> Envelope:
    """Fetch a document the caller may read (the core decides) and read it into the model."""
    raw = await call.ctx.core.fetch(call.caller, message_id)
    packet = await off_loop(len(raw), parse, raw)
    if not isinstance(packet, Envelope):
        raise NotFound(message_id)  # status messages travel through GetTraces
    return packet


async def get_document(call: Call) -> Answer:
    """GetDocument: the document rebuilt in the old namespace, attachments as MIME parts
    (Base64 text); never the sender's credentials."""
    message_id = await message_of(call.ctx, call.soap.document_id())
    envelope = await load_document(call, message_id)
    body = [manifest(envelope)]
    raw = document_envelope(document_header(envelope), body)
    return Answer(envelope=raw, parts=attachment_parts(envelope))


async def confirm_received(call: Call) -> Answer:
    """ConfirmReceived: the core acknowledges arrival (status 01 to the sender, once)."""
    message_id = await message_of(call.ctx, call.soap.document_id())
    await call.ctx.core.ack(call.caller, message_id)
    return Answer([report()])


async def check_permission(call: Call) -> Answer:
    """CheckPermission: the credentials were checked before the action ran."""
    return Answer([report()])


_ORGANIZATION_FIELDS = ("OrganizationInCharge", "OrganName", "OrganAdd", "Email", "Telephone")


async def get_organizations(call: Call) -> Answer:
    """GetOrganizations: the directory's active agencies (nulls omitted)."""
    directory = call.ctx.directory
    organizations = element("Organizations")
    for agency in sorted(directory or (), key=lambda a: a.code):
        if agency.status != "active":
            continue
        parent = directory.get(agency.parent_code) if agency.parent_code else None
        values = {
            "OrganizationInCharge": parent.name if parent is not None else None,
            "OrganName": agency.name,
            "Email": agency.mail,
        }
        org = element("Organization")
        org.append(element("OrganId", agency.code))
        for name in _ORGANIZATION_FIELDS:
            if values.get(name):
                org.append(element(name, values[name]))
        organizations.append(org)
    return Answer([organizations])
