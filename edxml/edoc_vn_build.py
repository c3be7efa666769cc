"""Writing packets in the old-namespace form (``http://www.e-doc.vn/Schema/``) for hub clients.

What a Bkav eDoc hub hands to a recipient that fetches a document (its "rebuilt" form):
SOAP Header ``MessageHeader`` + ``TraceHeaderList``, SOAP Body ``Manifest/Reference
xlink:href="cid:<id>" xlink:type="<mime>"{AttachmentName,Description}``, one MIME part per
attachment whose body is the **Base64 text** of the file (receivers decode it themselves).
Dates are written as the hub writes them: ``PromulgationDate`` ``dd/MM/yyyy``, trace
``Timestamp`` ``dd/MM/yyyy HH:mm:ss``, ``From/OrganInCharge``. Traces (``GetTraces``) use
``yyyy/MM/dd HH:mm:ss`` for both dates and unpadded status codes. No credentials are ever
written: the model holds none. Pure functions: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from urllib.parse import quote

from lxml import etree

from .build_elements import ElementWriter
from .edoc_vn import EDOC_NS, XLINK_NS, MimePart
from .model import (
    Business,
    Envelope,
    MessageHeader,
    StaffInfo,
    StatusMessage,
    TraceHeader,
)

_E = f"{{{EDOC_NS}}}"
NSMAP: dict[str, str] = {"edXML": EDOC_NS}
_MEDIA_TYPE = re.compile(r"\A[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*\Z")

HUB = ElementWriter(
    namespace=EDOC_NS,
    date_format="%d/%m/%Y",
    datetime_format="%d/%m/%Y %H:%M:%S",
    sender_in_charge="OrganInCharge",
    recipient_in_charge=None,
    type_detail=False,
    direction=False,
    to_places_last=False,
    padded_status=False,
)
"""The hub's rebuilt form of a document (``dd/MM/yyyy`` dates, ``From/OrganInCharge``)."""

HUB_TRACES = dataclasses.replace(
    HUB, date_format="%Y/%m/%d", datetime_format="%Y/%m/%d %H:%M:%S", sender_in_charge=None
)
"""The hub's ``GetTraces`` form (``yyyy/MM/dd`` dates, no in-charge element)."""


def content_id(value: str) -> str:
    """Return a Content-ID safe inside a MIME header and a ``cid:`` URL (percent-escaped),
    the same for the manifest and the part."""
    return quote(value, safe="@._-+=!$'*~")


def media_type(value: str | None) -> str:
    """Return ``value`` when it is a plain ``type/subtype``, else ``application/octet-stream``."""
    return value if value and _MEDIA_TYPE.match(value) else "application/octet-stream"


def element(
    name: str, text: object = None, *, nsmap: Mapping[str, str] | None = None
) -> etree._Element:
    """Return ``<edXML:name>`` with ``text`` (``None``: no text; booleans as true/false)."""
    el = etree.Element(_E + name, nsmap=nsmap)
    if text is not None:
        el.text = str(text).lower() if isinstance(text, bool) else str(text)
    return el


def message_header(h: MessageHeader) -> etree._Element:
    """Return ``<edXML:MessageHeader>`` of a document in the hub's rebuilt form."""
    el = element("MessageHeader", nsmap=NSMAP)
    HUB.message_header(el, h)
    return el


def trace_header_list(traces: tuple[TraceHeader, ...], business: Business | None) -> etree._Element:
    """Return ``<edXML:TraceHeaderList>`` with its ``TraceHeader``s and ``Business``."""
    el = element("TraceHeaderList", nsmap=NSMAP)
    for trace in traces:
        header = HUB.sub(el, "TraceHeader")
        HUB.sub(header, "OrganId", trace.organ_id)
        HUB.opt(header, "Timestamp", trace.timestamp)
    if business is not None:
        block = HUB.sub(el, "Business")
        HUB.sub(block, "BusinessDocType", str(int(business.doc_type)))
        HUB.opt(block, "BusinessDocReason", business.reason)
        HUB.opt(block, "Paper", business.paper)
    return el


def document_header(envelope: Envelope) -> list[etree._Element]:
    """Return the SOAP Header children of a document: ``MessageHeader``, ``TraceHeaderList``."""
    return [
        message_header(envelope.header),
        trace_header_list(envelope.traces, envelope.business),
    ]


def manifest(envelope: Envelope) -> etree._Element:
    """Return the SOAP Body's ``<edXML:Manifest>``: one ``Reference`` per attachment."""
    el = element("Manifest", nsmap={**NSMAP, "xlink": XLINK_NS})
    for att in envelope.attachments:
        ref = HUB.sub(el, "Reference")
        ref.set(f"{{{XLINK_NS}}}href", f"cid:{content_id(att.content_id)}")
        ref.set(f"{{{XLINK_NS}}}type", media_type(att.content_type))
        HUB.opt(ref, "AttachmentName", att.attachment_name)
        HUB.opt(ref, "Description", att.description)
    return el


def attachment_parts(envelope: Envelope) -> list[MimePart]:
    """Return one MIME part per attachment, its body the attachment's Base64 text (as the
    hub sends it: receivers decode it themselves)."""
    return [
        MimePart(
            content_id=content_id(att.content_id),
            content_type=media_type(att.content_type),
            data="".join(att.encoded.split()).encode("ascii"),
        )
        for att in envelope.attachments
    ]


def staff_info(parent: etree._Element, staff: StaffInfo | None) -> None:
    """Append ``<edXML:StaffInfo>`` to ``parent`` when there is one."""
    HUB.staff_info(parent, staff)


def status(message: StatusMessage) -> etree._Element:
    """Return one ``<edXML:Status>`` of a ``GetTraces`` answer (unpadded code, ``yyyy/MM/dd``)."""
    el = element("Status", nsmap=NSMAP)
    HUB_TRACES.status(el, message)
    return el
