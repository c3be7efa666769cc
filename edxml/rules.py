"""Semantic checks of a parsed packet beyond the XSD (SPEC §3–§4).

``check`` raises the first refusal (its own error code: no recipient, duplicate recipient,
future promulgation date, priority, field lengths, identifier codes) and returns the
warnings: things that are odd but really seen on the wire, reported beside the result and
never a reason to refuse (a DocumentId that does not follow
``<From>,<yyyy/MM/dd>,<number>/<notation>``, an impossible date inside it, another agency in
it than ``From``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from .codes import parse_code
from .errors import (
    WARN_DOCUMENT_ID_DATE,
    WARN_DOCUMENT_ID_FORMAT,
    WARN_DOCUMENT_ID_SENDER,
    CodeInvalid,
    DuplicateRecipient,
    FieldInvalid,
    FutureDate,
    Issue,
    NoRecipient,
    PriorityInvalid,
)
from .model import BusinessDocType, Envelope, Organization, Priority, StatusMessage

_DOCUMENT_ID = re.compile(r"(?P<org>[^,]+),(?P<date>[^,]+),(?P<number>[^/]+)/(?P<notation>.+)")

ORGANIZATION_LIMITS = {
    "organ_name": 200,
    "organization_in_charge": 500,
    "organ_add": 500,
    "email": 100,
    "telephone": 20,
    "fax": 20,
}
"""Maximum lengths of ``From``/``To`` fields (SPEC §3)."""


def check(packet: Envelope | StatusMessage, *, today: date) -> list[Issue]:
    """Check a packet's semantics; raise the first error, return the warnings.

    ``today`` is the date in Vietnam against which promulgation dates are judged.
    """
    if isinstance(packet, StatusMessage):
        return _check_status(packet)
    return _check_document(packet, today)


def _check_document(env: Envelope, today: date) -> list[Issue]:
    base = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
    h = env.header
    _organization(h.from_, f"{base}/From")
    if not h.to:
        raise NoRecipient(path=f"{base}/To")
    seen: set[str] = set()
    for i, to in enumerate(h.to, 1):
        _organization(to, f"{base}/To[{i}]")
        if to.organ_id in seen:
            raise DuplicateRecipient(to.organ_id, path=f"{base}/To[{i}]/OrganId")
        seen.add(to.organ_id)
    if h.code is None:
        raise FieldInvalid("Code is required", path=f"{base}/Code")
    _length(h.code.code_number, 11, f"{base}/Code/CodeNumber", required=True)
    _length(h.code.code_notation, 30, f"{base}/Code/CodeNotation", required=True)
    _length(h.subject, 500, f"{base}/Subject", required=True)
    _length(h.content, 500, f"{base}/Content")
    if h.document_type is not None:
        _length(h.document_type.type_name, 100, f"{base}/DocumentType/TypeName")
    if h.to_places is not None:
        for i, place in enumerate(h.to_places, 1):
            _length(place, 150, f"{base}/ToPlaces/Place[{i}]")
    info = h.promulgation_info
    if info is not None:
        _length(info.place, 50, f"{base}/PromulgationInfo/Place")
        if info.promulgation_date is not None and info.promulgation_date > today:
            raise FutureDate(
                f"{info.promulgation_date:%Y/%m/%d} > {today:%Y/%m/%d}",
                path=f"{base}/PromulgationInfo/PromulgationDate",
            )
    other = h.other_info
    if other is not None:
        if other.priority is not None and other.priority not in set(Priority):
            raise PriorityInvalid(str(other.priority), path=f"{base}/OtherInfo/Priority")
        _length(other.typer_notation, 10, f"{base}/OtherInfo/TyperNotation")
    for i, ref in enumerate(env.manifest, 1):
        _length(
            ref.attachment_name,
            500,
            f"/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference[{i}]/AttachmentName",
        )
    for i, att in enumerate(env.attachments, 1):
        _length(
            att.attachment_name, 500, f"/edXML/AttachmentEncoded/Attachment[{i}]/AttachmentName"
        )
    trace_base = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList"
    if env.business is not None and env.business.doc_type not in set(BusinessDocType):
        raise FieldInvalid(
            f"BussinessDocType {env.business.doc_type} is not 0-3",
            path=f"{trace_base}/Bussiness/BussinessDocType",
        )
    warnings = list(_document_id_warnings(h.document_id, h.from_.organ_id, f"{base}/DocumentId"))
    if env.business is not None and env.business.document_id is not None:
        warnings += _document_id_warnings(
            env.business.document_id, None, f"{trace_base}/Bussiness/DocumentId"
        )
    return warnings


def _check_status(status: StatusMessage) -> list[Issue]:
    base = f"/edXML/edXMLEnvelope/edXMLHeader/{status.container}"
    _organization(status.from_, f"{base}/From")
    rf = status.response_for
    if not rf.organ_id:
        raise FieldInvalid("ResponseFor/OrganId is required", path=f"{base}/ResponseFor/OrganId")
    _code(rf.organ_id, f"{base}/ResponseFor/OrganId")
    if not rf.document_id:
        raise FieldInvalid(
            "ResponseFor/DocumentId is required", path=f"{base}/ResponseFor/DocumentId"
        )
    return list(
        _document_id_warnings(rf.document_id, rf.organ_id, f"{base}/ResponseFor/DocumentId")
    )


def _organization(org: Organization, path: str) -> None:
    _code(org.organ_id, f"{path}/OrganId")
    for name, limit in ORGANIZATION_LIMITS.items():
        wire = "".join(part.capitalize() for part in name.split("_"))
        _length(getattr(org, name), limit, f"{path}/{wire}")


def _code(text: str, path: str) -> None:
    try:
        parse_code(text)
    except CodeInvalid as exc:
        raise CodeInvalid(exc.detail, path=path) from exc


def _length(value: str | None, limit: int, path: str, *, required: bool = False) -> None:
    if required and not value:
        raise FieldInvalid(f"{path.rsplit('/', 1)[-1]} is required", path=path)
    if value is not None and len(value) > limit:
        raise FieldInvalid(f"{len(value)} characters > {limit}", path=path)


def _document_id_warnings(doc_id: str | None, sender: str | None, path: str) -> Iterator[Issue]:
    if doc_id is None:
        return
    match = _DOCUMENT_ID.fullmatch(doc_id)
    if match is None:
        yield Issue(
            WARN_DOCUMENT_ID_FORMAT,
            f"DocumentId không theo dạng <mã đơn vị>,<yyyy/MM/dd>,<số>/<ký hiệu>: {doc_id}",
            f"DocumentId does not follow <agency>,<yyyy/MM/dd>,<number>/<notation>: {doc_id}",
            path,
        )
        return
    if not _real_date(match["date"]):
        yield Issue(
            WARN_DOCUMENT_ID_DATE,
            f"Ngày trong DocumentId không tồn tại: {match['date']}",
            f"The date inside DocumentId does not exist: {match['date']}",
            path,
        )
    if sender is not None and match["org"] != sender:
        yield Issue(
            WARN_DOCUMENT_ID_SENDER,
            f"Mã đơn vị trong DocumentId ({match['org']}) khác đơn vị gửi ({sender})",
            f"The agency in DocumentId ({match['org']}) is not the sender ({sender})",
            path,
        )


def _real_date(text: str) -> bool:
    parts = text.split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
        return False
    try:
        date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return False
    return True
