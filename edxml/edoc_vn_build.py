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

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote

from lxml import etree

from .edoc_vn import EDOC_NS, XLINK_NS, MimePart
from .model import (
    Business,
    Envelope,
    MessageHeader,
    Organization,
    OtherInfo,
    ResponseFor,
    StaffInfo,
    StatusMessage,
    TraceHeader,
)

_E = f"{{{EDOC_NS}}}"
_VIETNAM = timezone(timedelta(hours=7))
NSMAP: dict[str, str] = {"edXML": EDOC_NS}
_MEDIA_TYPE = re.compile(r"\A[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*\Z")


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


def _sub(parent: etree._Element, name: str, text: object = None) -> etree._Element:
    el = etree.SubElement(parent, _E + name)
    if text is not None:
        el.text = str(text)
    return el


def _opt(parent: etree._Element, name: str, text: object) -> None:
    # The hub omits nulls; present-but-empty values are kept as empty elements.
    if text is not None:
        _sub(parent, name, text)


def _local(value: datetime) -> datetime:
    return value.astimezone(_VIETNAM) if value.tzinfo is not None else value


def _dmy(value: date | None) -> str | None:
    return None if value is None else value.strftime("%d/%m/%Y")


def _dmy_time(value: datetime | None) -> str | None:
    return None if value is None else _local(value).strftime("%d/%m/%Y %H:%M:%S")


def _ymd(value: date | None) -> str | None:
    return None if value is None else value.strftime("%Y/%m/%d")


def _ymd_time(value: datetime | None) -> str | None:
    return None if value is None else _local(value).strftime("%Y/%m/%d %H:%M:%S")


def _organization(parent: etree._Element, tag: str, org: Organization, *, sender: bool) -> None:
    el = _sub(parent, tag)
    _sub(el, "OrganId", org.organ_id)
    if sender:
        _opt(el, "OrganInCharge", org.organization_in_charge)
    for name, value in (
        ("OrganName", org.organ_name),
        ("OrganAdd", org.organ_add),
        ("Email", org.email),
        ("Telephone", org.telephone),
        ("Fax", org.fax),
        ("Website", org.website),
    ):
        _opt(el, name, value)


def _other_info(parent: etree._Element, other: OtherInfo) -> None:
    el = _sub(parent, "OtherInfo")
    _opt(el, "Priority", other.priority)
    _opt(el, "SphereOfPromulgation", other.sphere_of_promulgation)
    _opt(el, "TyperNotation", other.typer_notation)
    _opt(el, "PromulgationAmount", other.promulgation_amount)
    _opt(el, "PageAmount", other.page_amount)
    if other.appendixes is not None:
        appendixes = _sub(el, "Appendixes")
        for text in other.appendixes:
            _sub(appendixes, "Appendix", text)


def _response_for(parent: etree._Element, rf: ResponseFor, dates: str = "dmy") -> None:
    el = _sub(parent, "ResponseFor")
    _opt(el, "OrganId", rf.organ_id)
    _opt(el, "Code", rf.code)
    _opt(el, "PromulgationDate", (_dmy if dates == "dmy" else _ymd)(rf.promulgation_date))
    _opt(el, "DocumentId", rf.document_id)


def message_header(h: MessageHeader) -> etree._Element:
    """Return ``<edXML:MessageHeader>`` of a document in the hub's rebuilt form."""
    el = element("MessageHeader", nsmap=NSMAP)
    _organization(el, "From", h.from_, sender=True)
    for to in h.to:
        _organization(el, "To", to, sender=False)
    _opt(el, "DocumentId", h.document_id)
    if h.code is not None:
        code = _sub(el, "Code")
        _sub(code, "CodeNumber", h.code.code_number)
        _sub(code, "CodeNotation", h.code.code_notation)
    if h.promulgation_info is not None:
        info = _sub(el, "PromulgationInfo")
        _opt(info, "Place", h.promulgation_info.place)
        _opt(info, "PromulgationDate", _dmy(h.promulgation_info.promulgation_date))
    if h.document_type is not None:
        kind = _sub(el, "DocumentType")
        _opt(kind, "Type", h.document_type.type)
        _opt(kind, "TypeName", h.document_type.type_name)
    _opt(el, "Subject", h.subject)
    _opt(el, "Content", h.content)
    if h.signer_info is not None:
        signer = _sub(el, "SignerInfo")
        _opt(signer, "Competence", h.signer_info.competence)
        _opt(signer, "Position", h.signer_info.position)
        _opt(signer, "FullName", h.signer_info.full_name)
    _opt(el, "DueDate", _dmy(h.due_date))
    if h.to_places is not None:
        places = _sub(el, "ToPlaces")
        for place in h.to_places:
            _sub(places, "Place", place)
    if h.other_info is not None:
        _other_info(el, h.other_info)
    for rf in h.response_for:
        _response_for(el, rf)
    _opt(el, "SteeringType", h.steering_type)
    return el


def trace_header_list(traces: tuple[TraceHeader, ...], business: Business | None) -> etree._Element:
    """Return ``<edXML:TraceHeaderList>`` with its ``TraceHeader``s and ``Business``."""
    el = element("TraceHeaderList", nsmap=NSMAP)
    for trace in traces:
        header = _sub(el, "TraceHeader")
        _sub(header, "OrganId", trace.organ_id)
        _opt(header, "Timestamp", _dmy_time(trace.timestamp))
    if business is not None:
        block = _sub(el, "Business")
        _sub(block, "BusinessDocType", int(business.doc_type))
        _opt(block, "BusinessDocReason", business.reason)
        _opt(block, "Paper", business.paper)
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
        ref = _sub(el, "Reference")
        ref.set(f"{{{XLINK_NS}}}href", f"cid:{content_id(att.content_id)}")
        ref.set(f"{{{XLINK_NS}}}type", media_type(att.content_type))
        _opt(ref, "AttachmentName", att.attachment_name)
        _opt(ref, "Description", att.description)
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
    if staff is None:
        return
    el = _sub(parent, "StaffInfo")
    _opt(el, "Department", staff.department)
    _opt(el, "Staff", staff.staff)
    _opt(el, "Email", staff.email)
    _opt(el, "Mobile", staff.mobile)


def status(message: StatusMessage) -> etree._Element:
    """Return one ``<edXML:Status>`` of a ``GetTraces`` answer (unpadded code, ``yyyy/MM/dd``)."""
    el = element("Status", nsmap=NSMAP)
    _organization(el, "From", message.from_, sender=False)
    _response_for(el, message.response_for, dates="ymd")
    staff_info(el, message.staff_info)
    _sub(el, "StatusCode", int(message.status_code))
    _opt(el, "Description", message.description)
    _opt(el, "Timestamp", _ymd_time(message.timestamp))
    return el
