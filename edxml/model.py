"""Typed model of edXML packets (QCVN 102:2016/BTTTT): documents and status messages.

All classes are frozen dataclasses so that two parses of the same packet compare equal.
Text is NFC-normalised by the parser. Optional wire fields are ``None`` when absent and
``""`` when present but empty, so a round trip keeps empty elements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import IntEnum

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


class Priority(IntEnum):
    """Độ khẩn of a document."""

    NORMAL = 0  # thường
    URGENT = 1  # khẩn
    VERY_URGENT = 2  # thượng khẩn
    FLASH = 3  # hỏa tốc
    FLASH_SCHEDULED = 4  # hỏa tốc hẹn giờ


class BusinessDocType(IntEnum):
    """BussinessDocType: what a document packet does to the document it names."""

    NEW = 0
    RECALL = 1  # thu hồi
    UPDATE = 2  # cập nhật
    REPLACE = 3  # thay thế


class StatusCode(IntEnum):
    """Processing status codes of QĐ 28/2018 (SPEC §4). 14 is read as 15."""

    ARRIVED = 1  # Đã đến
    REFUSED = 2  # Từ chối tiếp nhận
    ACCEPTED = 3  # Đã tiếp nhận
    ASSIGNED = 4  # Phân công
    PROCESSING = 5  # Đang xử lý
    DONE = 6  # Hoàn thành
    RECALL_REQUEST = 13  # Lấy lại
    RECALL_AGREED = 15  # Đồng ý lấy lại/cập nhật
    RECALL_REFUSED = 16  # Từ chối lấy lại/cập nhật

    @property
    def wire(self) -> str:
        """Two-digit form used on the wire (``"03"``)."""
        return f"{int(self):02d}"


@dataclass(frozen=True, slots=True)
class Organization:
    """An agency as named in ``From``, ``To`` and status ``From``."""

    organ_id: str
    organization_in_charge: str | None = None
    organ_name: str | None = None
    organ_add: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None


@dataclass(frozen=True, slots=True)
class Code:
    """Số và ký hiệu văn bản."""

    code_number: str
    code_notation: str


@dataclass(frozen=True, slots=True)
class PromulgationInfo:
    """Place and date of promulgation."""

    place: str | None = None
    promulgation_date: date | None = None


@dataclass(frozen=True, slots=True)
class DocumentType:
    """Loại văn bản; ``type`` and ``type_detail`` are small integers passed on unchanged."""

    type: int | None = None
    type_detail: int | None = None
    type_name: str | None = None


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """Người ký."""

    competence: str | None = None
    position: str | None = None
    full_name: str | None = None


@dataclass(frozen=True, slots=True)
class OtherInfo:
    """Thông tin khác; ``appendixes`` keeps empty entries (``<Appendix/>``) as ``""``."""

    priority: int | None = None
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: str | None = None
    appendixes: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ResponseFor:
    """The earlier document a document or status answers."""

    organ_id: str | None = None
    code: str | None = None
    promulgation_date: date | None = None
    document_id: str | None = None


@dataclass(frozen=True, slots=True)
class StaffInfo:
    """The clerk who handled the packet."""

    department: str | None = None
    staff: str | None = None
    email: str | None = None
    mobile: str | None = None


@dataclass(frozen=True, slots=True)
class Receiver:
    """A receiver added (1) or removed (0) by an update packet."""

    organ_id: str
    receiver_type: int


@dataclass(frozen=True, slots=True)
class BusinessDocumentInfo:
    """What an update changes: document info, receivers, receiver list."""

    document_info: str | None = None
    document_receiver: str | None = None
    receivers: tuple[Receiver, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplacementInfo:
    """A document replaced by this one, and for which agencies."""

    document_id: str
    organ_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Business:
    """The ``Bussiness`` block (spelled so on the wire; ``Business`` is accepted)."""

    document_id: str | None = None
    doc_type: int = BusinessDocType.NEW
    reason: str | None = None
    paper: int | None = None
    staff_info: StaffInfo | None = None
    document_info: BusinessDocumentInfo | None = None
    replacements: tuple[ReplacementInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """One hop recorded in ``TraceHeaderList``."""

    organ_id: str
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """Header of a document packet (SPEC §3)."""

    from_: Organization
    to: tuple[Organization, ...]
    document_id: str | None = None
    code: Code | None = None
    promulgation_info: PromulgationInfo | None = None
    document_type: DocumentType | None = None
    subject: str | None = None
    content: str | None = None
    signer_info: SignerInfo | None = None
    due_date: date | None = None
    other_info: OtherInfo | None = None
    response_for: tuple[ResponseFor, ...] = ()
    steering_type: int | None = None
    to_places: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ManifestReference:
    """One ``Reference`` of ``edXMLManifest``."""

    content_id: str
    content_type: str | None = None
    description: str | None = None
    attachment_name: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """One ``Attachment`` of ``AttachmentEncoded``; ``encoded`` is the base64 text as sent."""

    content_id: str
    attachment_name: str | None = None
    description: str | None = None
    content_type: str | None = None
    encoded: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """What the packet says about its signature, before any verification."""

    namespace: str  # xmldsig namespace, or the edXML namespace for wire-legacy signatures
    signature_method: str | None = None
    canonicalization_method: str | None = None
    subject_name: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """A document packet: header, trace, business block, manifest, attachments."""

    header: MessageHeader
    traces: tuple[TraceHeader, ...] = ()
    business: Business | None = None
    manifest: tuple[ManifestReference, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    manifest_version: str | None = "1.0"
    signature: SignatureInfo | None = field(default=None, compare=False)

    kind = "document"

    @property
    def sender(self) -> str:
        """OrganId of the sender."""
        return self.header.from_.organ_id

    @property
    def recipients(self) -> tuple[str, ...]:
        """OrganIds of the recipients, in packet order."""
        return tuple(org.organ_id for org in self.header.to)

    @property
    def document_id(self) -> str | None:
        """DocumentId of the header."""
        return self.header.document_id


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """A processing-status packet (SPEC §4); no body, no attachments."""

    from_: Organization
    response_for: ResponseFor
    status_code: StatusCode
    staff_info: StaffInfo | None = None
    description: str | None = None
    timestamp: datetime | None = None
    traces: tuple[TraceHeader, ...] = ()
    container: str = field(default="Status", compare=False)  # "Status" or "MessageHeader"
    signature: SignatureInfo | None = field(default=None, compare=False)

    kind = "status"

    @property
    def sender(self) -> str:
        """OrganId of the agency reporting the status."""
        return self.from_.organ_id

    @property
    def recipients(self) -> tuple[str, ...]:
        """The original document's sender, to whom the status travels."""
        return (self.response_for.organ_id,) if self.response_for.organ_id else ()

    @property
    def document_id(self) -> str | None:
        """DocumentId of the document this status is about."""
        return self.response_for.document_id


Packet = Envelope | StatusMessage
