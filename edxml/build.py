"""Writing edXML packets from the model, and helpers that make new packets.

``build`` writes the canonical element order of the national axis sample
(``vpcp-sample-dc0bdef0-*.edxml``): UTF-8, XML declaration, ``edXML`` prefix declared on the
envelope, ``AttachmentEncoded`` children unprefixed. ``None`` fields are left out, ``""``
fields are written as empty elements, so ``parse(build(parse(x))) == parse(x)``.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone

from lxml import etree

from .errors import FieldInvalid
from .model import (
    NAMESPACE,
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Code,
    DocumentType,
    Envelope,
    ManifestReference,
    MessageHeader,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusMessage,
    TraceHeader,
)

_NS = f"{{{NAMESPACE}}}"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_VIETNAM_TZ = timezone(timedelta(hours=7))

STATUS_DESCRIPTIONS: dict[StatusCode, str] = {
    StatusCode.ARRIVED: "Đã đến",
    StatusCode.REFUSED: "Từ chối tiếp nhận",
    StatusCode.ACCEPTED: "Đã tiếp nhận",
    StatusCode.ASSIGNED: "Phân công",
    StatusCode.PROCESSING: "Đang xử lý",
    StatusCode.DONE: "Hoàn thành",
    StatusCode.RECALL_REQUEST: "Lấy lại",
    StatusCode.RECALL_AGREED: "Đồng ý lấy lại/cập nhật",
    StatusCode.RECALL_REFUSED: "Từ chối lấy lại/cập nhật",
}
"""Default ``Description`` of each status code (SPEC §4)."""


# ---------------------------------------------------------------------------------------------
# Serialisation


def build(packet: Envelope | StatusMessage) -> bytes:
    """Serialise a packet to UTF-8 edXML bytes in the canonical element order.

    Raises ``FieldInvalid`` when a text value cannot be written as XML (control characters).
    """
    root = etree.Element(_NS + "edXML", nsmap={None: NAMESPACE})
    envelope = etree.SubElement(root, _NS + "edXMLEnvelope", nsmap={"edXML": NAMESPACE})
    header = _sub(envelope, "edXMLHeader")
    big: dict[str, str] = {}
    try:
        if isinstance(packet, StatusMessage):
            _status(_sub(header, packet.container or "Status"), packet)
            if packet.traces:
                _trace_list(_sub(header, "TraceHeaderList"), packet.traces, None)
        else:
            _message_header(_sub(header, "MessageHeader"), packet.header)
            if packet.traces or packet.business is not None:
                _trace_list(_sub(header, "TraceHeaderList"), packet.traces, packet.business)
            if packet.manifest_version is not None or packet.manifest:
                _manifest(envelope, packet)
            if packet.attachments:
                big = _attachments(root, packet.attachments)
    except (ValueError, TypeError) as exc:
        raise FieldInvalid(f"value cannot be written as XML: {exc}") from exc
    out = _DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)
    return _splice(out, big) if big else out


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, _NS + name)
    if text is not None:
        el.text = text
    return el


def _opt(parent: etree._Element, name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, datetime):
        text = _timestamp(value)
    elif isinstance(value, date):
        text = value.strftime("%Y/%m/%d")
    else:
        text = str(int(value)) if isinstance(value, int) else str(value)
    _sub(parent, name, text)


def _timestamp(value: datetime) -> str:
    if value.tzinfo is not None:
        offset = value.utcoffset()
        if offset is not None and offset != _VIETNAM_TZ.utcoffset(None):
            value = value.astimezone(_VIETNAM_TZ)
    return value.strftime("%Y/%m/%d %H:%M:%S")


def _organization(el: etree._Element, org: Organization) -> None:
    _sub(el, "OrganId", org.organ_id)
    _opt(el, "OrganizationInCharge", org.organization_in_charge)
    _opt(el, "OrganName", org.organ_name)
    _opt(el, "OrganAdd", org.organ_add)
    _opt(el, "Email", org.email)
    _opt(el, "Telephone", org.telephone)
    _opt(el, "Fax", org.fax)
    _opt(el, "Website", org.website)


def _response_for(el: etree._Element, rf: ResponseFor) -> None:
    _opt(el, "OrganId", rf.organ_id)
    _opt(el, "Code", rf.code)
    _opt(el, "PromulgationDate", rf.promulgation_date)
    _opt(el, "DocumentId", rf.document_id)


def _staff_info(parent: etree._Element, staff: StaffInfo | None) -> None:
    if staff is None:
        return
    el = _sub(parent, "StaffInfo")
    _opt(el, "Department", staff.department)
    _opt(el, "Staff", staff.staff)
    _opt(el, "Email", staff.email)
    _opt(el, "Mobile", staff.mobile)


def _message_header(el: etree._Element, h: MessageHeader) -> None:
    _organization(_sub(el, "From"), h.from_)
    for to in h.to:
        _organization(_sub(el, "To"), to)
    _opt(el, "DocumentId", h.document_id)
    if h.code is not None:
        code = _sub(el, "Code")
        _sub(code, "CodeNumber", h.code.code_number)
        _sub(code, "CodeNotation", h.code.code_notation)
    if h.promulgation_info is not None:
        info = _sub(el, "PromulgationInfo")
        _opt(info, "Place", h.promulgation_info.place)
        _opt(info, "PromulgationDate", h.promulgation_info.promulgation_date)
    if h.document_type is not None:
        dt = _sub(el, "DocumentType")
        _opt(dt, "Type", h.document_type.type)
        _opt(dt, "TypeDetail", h.document_type.type_detail)
        _opt(dt, "TypeName", h.document_type.type_name)
    _opt(el, "Subject", h.subject)
    _opt(el, "Content", h.content)
    if h.signer_info is not None:
        signer = _sub(el, "SignerInfo")
        _opt(signer, "Competence", h.signer_info.competence)
        _opt(signer, "Position", h.signer_info.position)
        _opt(signer, "FullName", h.signer_info.full_name)
    _opt(el, "DueDate", h.due_date)
    if h.other_info is not None:
        _other_info(_sub(el, "OtherInfo"), h.other_info)
    for rf in h.response_for:
        _response_for(_sub(el, "ResponseFor"), rf)
    _opt(el, "SteeringType", h.steering_type)
    if h.to_places is not None:
        places = _sub(el, "ToPlaces")
        for place in h.to_places:
            _sub(places, "Place", place)


def _other_info(el: etree._Element, o: OtherInfo) -> None:
    _opt(el, "Priority", o.priority)
    _opt(el, "SphereOfPromulgation", o.sphere_of_promulgation)
    _opt(el, "TyperNotation", o.typer_notation)
    _opt(el, "PromulgationAmount", o.promulgation_amount)
    _opt(el, "PageAmount", o.page_amount)
    _opt(el, "Direction", o.direction)
    if o.appendixes is not None:
        appendixes = _sub(el, "Appendixes")
        for appendix in o.appendixes:
            _sub(appendixes, "Appendix", appendix)


def _trace_list(
    el: etree._Element, traces: Iterable[TraceHeader], business: Business | None
) -> None:
    if business is not None:
        _business(_sub(el, "Bussiness"), business)
    for trace in traces:
        th = _sub(el, "TraceHeader")
        _sub(th, "OrganId", trace.organ_id)
        _opt(th, "Timestamp", trace.timestamp)


def _business(el: etree._Element, b: Business) -> None:
    _opt(el, "DocumentId", b.document_id)
    _sub(el, "BussinessDocType", str(int(b.doc_type)))
    _opt(el, "BussinessDocReason", b.reason)
    _opt(el, "Paper", b.paper)
    if b.document_info is not None:
        info = _sub(el, "BussinessDocumentInfo")
        _opt(info, "DocumentInfo", b.document_info.document_info)
        _opt(info, "DocumentReceiver", b.document_info.document_receiver)
        if b.document_info.receivers:
            receivers = _sub(info, "ReceiverList")
            for r in b.document_info.receivers:
                rec = _sub(receivers, "Receiver")
                _sub(rec, "OrganId", r.organ_id)
                _sub(rec, "ReceiverType", str(int(r.receiver_type)))
    _staff_info(el, b.staff_info)
    if b.replacements:
        replacements = _sub(el, "ReplacementInfoList")
        for rep in b.replacements:
            info = _sub(replacements, "ReplacementInfo")
            _sub(info, "DocumentId", rep.document_id)
            organs = _sub(info, "OrganIdList")
            for organ in rep.organ_ids:
                _sub(organs, "OrganId", organ)


def _manifest(envelope: etree._Element, packet: Envelope) -> None:
    manifest = _sub(_sub(envelope, "edXMLBody"), "edXMLManifest")
    if packet.manifest_version is not None:
        manifest.set("version", packet.manifest_version)
    for ref in packet.manifest:
        el = _sub(manifest, "Reference")
        _sub(el, "ContentId", ref.content_id)
        _opt(el, "ContentType", ref.content_type)
        _opt(el, "Description", ref.description)
        _opt(el, "AttachmentName", ref.attachment_name)


def _attachments(root: etree._Element, attachments: Sequence[Attachment]) -> dict[str, str]:
    # The base64 text is spliced into the output afterwards: putting 100 MB into the lxml
    # tree and serialising it again would hold three more copies of it.
    token = secrets.token_hex(16)
    big: dict[str, str] = {}
    container = _sub(root, "AttachmentEncoded")
    for i, att in enumerate(attachments):
        el = _sub(container, "Attachment")
        _sub(el, "ContentId", att.content_id)
        _opt(el, "AttachmentName", att.attachment_name)
        _opt(el, "Description", att.description)
        _opt(el, "ContentType", att.content_type)
        cte = etree.SubElement(el, _NS + "ContentTransferEncoded", nsmap={"edXML": NAMESPACE})
        if _splicable(att.encoded):
            key = f"{token}.{i}"
            cte.text = key
            big[key] = att.encoded
        else:
            cte.text = att.encoded
    return big


def _splicable(text: str) -> bool:
    return text.isascii() and "<" not in text and "&" not in text and "\r" not in text


def _splice(out: bytes, big: dict[str, str]) -> bytes:
    pieces: list[bytes] = []
    rest = out
    for key, text in big.items():
        before, sep, rest = rest.partition(key.encode("ascii"))
        if not sep:
            raise FieldInvalid("attachment placeholder lost while serialising")
        pieces += (before, text.encode("ascii"))
    pieces.append(rest)
    return b"".join(pieces)


def _status(el: etree._Element, s: StatusMessage) -> None:
    _organization(_sub(el, "From"), s.from_)
    _response_for(_sub(el, "ResponseFor"), s.response_for)
    _staff_info(el, s.staff_info)
    _sub(el, "StatusCode", StatusCode(s.status_code).wire)
    _opt(el, "Description", s.description)
    _opt(el, "Timestamp", s.timestamp)


# ---------------------------------------------------------------------------------------------
# Helpers that make packets


def document_id(sender: str, promulgation_date: date, code: Code) -> str:
    """Return the DocumentId ``<sender>,<yyyy/MM/dd>,<CodeNumber>/<CodeNotation>``."""
    return f"{sender},{promulgation_date:%Y/%m/%d},{code.code_number}/{code.code_notation}"


def new_document(
    *,
    sender: Organization,
    to: Sequence[Organization],
    code: Code,
    subject: str,
    promulgation_date: date,
    place: str | None = None,
    document_type: DocumentType | None = None,
    content: str | None = None,
    signer_info: SignerInfo | None = None,
    due_date: date | None = None,
    other_info: OtherInfo | None = None,
    steering_type: int | None = None,
    to_places: Sequence[str] | None = None,
    attachments: Sequence[Attachment] = (),
    staff_info: StaffInfo | None = None,
    timestamp: datetime | None = None,
    reason: str | None = "Văn bản điện tử mới",
    paper: int | None = 0,
    doc_id: str | None = None,
) -> Envelope:
    """Make a new-document packet (BussinessDocType 0) with its manifest and trace.

    ``doc_id`` defaults to the DocumentId built from sender, date and code.
    """
    ident = doc_id or document_id(sender.organ_id, promulgation_date, code)
    header = MessageHeader(
        from_=sender,
        to=tuple(to),
        document_id=ident,
        code=code,
        promulgation_info=PromulgationInfo(place=place, promulgation_date=promulgation_date),
        document_type=document_type,
        subject=subject,
        content=content,
        signer_info=signer_info,
        due_date=due_date,
        other_info=other_info,
        steering_type=steering_type,
        to_places=None if to_places is None else tuple(to_places),
    )
    return Envelope(
        header=header,
        traces=(TraceHeader(organ_id=sender.organ_id, timestamp=timestamp),),
        business=Business(
            document_id=ident,
            doc_type=BusinessDocType.NEW,
            reason=reason,
            paper=paper,
            staff_info=staff_info,
        ),
        manifest=manifest_for(attachments),
        attachments=tuple(attachments),
    )


def manifest_for(attachments: Iterable[Attachment]) -> tuple[ManifestReference, ...]:
    """Return one manifest ``Reference`` per attachment."""
    return tuple(
        ManifestReference(
            content_id=a.content_id,
            content_type=a.content_type,
            description=a.description,
            attachment_name=a.attachment_name,
        )
        for a in attachments
    )


def status_message(
    *,
    sender: Organization,
    document: Envelope | ResponseFor,
    code: StatusCode | int,
    description: str | None = None,
    staff_info: StaffInfo | None = None,
    timestamp: datetime | None = None,
) -> StatusMessage:
    """Make a status message about ``document`` (an envelope or its ``ResponseFor``).

    ``description`` defaults to the Vietnamese meaning of the code. Raises ``ValueError``
    for a code that is not in SPEC §4 (14 is accepted and becomes 15).
    """
    status = StatusCode(StatusCode.RECALL_AGREED if int(code) == 14 else int(code))
    if isinstance(document, Envelope):
        h = document.header
        info = h.promulgation_info
        rf = ResponseFor(
            organ_id=h.from_.organ_id,
            code=None if h.code is None else f"{h.code.code_number}/{h.code.code_notation}",
            promulgation_date=None if info is None else info.promulgation_date,
            document_id=h.document_id,
        )
    else:
        rf = document
    return StatusMessage(
        from_=sender,
        response_for=rf,
        status_code=status,
        staff_info=staff_info,
        description=STATUS_DESCRIPTIONS[status] if description is None else description,
        timestamp=timestamp,
    )


def _follow_up(
    original: Envelope,
    doc_type: BusinessDocType,
    reason: str | None,
    staff_info: StaffInfo | None,
    timestamp: datetime | None,
    **business: object,
) -> Envelope:
    old = original.business
    return dataclasses.replace(
        original,
        traces=(TraceHeader(organ_id=original.sender, timestamp=timestamp),),
        business=Business(
            document_id=original.document_id,
            doc_type=doc_type,
            reason=reason,
            paper=0 if old is None else old.paper,
            staff_info=staff_info if staff_info is not None else (old.staff_info if old else None),
            **business,  # type: ignore[arg-type]
        ),
        signature=None,
    )


def recall(
    original: Envelope,
    *,
    reason: str = "Thu hồi văn bản điện tử",
    staff_info: StaffInfo | None = None,
    timestamp: datetime | None = None,
) -> Envelope:
    """Make a recall packet (BussinessDocType 1) for a document sent earlier."""
    return _follow_up(original, BusinessDocType.RECALL, reason, staff_info, timestamp)


def update(
    original: Envelope,
    *,
    reason: str = "Cập nhật văn bản điện tử",
    added: Sequence[str] = (),
    removed: Sequence[str] = (),
    document_info_changed: bool = False,
    staff_info: StaffInfo | None = None,
    timestamp: datetime | None = None,
) -> Envelope:
    """Make an update packet (BussinessDocType 2): changed info and/or receivers.

    ``original`` carries the updated header; ``added``/``removed`` list receiver codes
    (ReceiverType 1 / 0).
    """
    receivers = tuple(Receiver(organ_id=o, receiver_type=0) for o in removed) + tuple(
        Receiver(organ_id=o, receiver_type=1) for o in added
    )
    info = BusinessDocumentInfo(
        document_info="1" if document_info_changed else "0",
        document_receiver="1" if receivers else "0",
        receivers=receivers,
    )
    return _follow_up(
        original, BusinessDocType.UPDATE, reason, staff_info, timestamp, document_info=info
    )


def replace(
    replacement: Envelope,
    *,
    replaces: str,
    organ_ids: Sequence[str] = (),
    reason: str = "Thay thế văn bản điện tử",
    staff_info: StaffInfo | None = None,
    timestamp: datetime | None = None,
) -> Envelope:
    """Make a replace packet (BussinessDocType 3): ``replacement`` replaces DocumentId
    ``replaces`` for ``organ_ids`` (all recipients of ``replacement`` when empty)."""
    organs = tuple(organ_ids) or replacement.recipients
    return _follow_up(
        replacement,
        BusinessDocType.REPLACE,
        reason,
        staff_info,
        timestamp,
        replacements=(ReplacementInfo(document_id=replaces, organ_ids=organs),),
    )
