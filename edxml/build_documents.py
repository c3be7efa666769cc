"""Making document packets in the model: a new document, and the recall, update and replace
packets that follow it (SPEC §3, ``BussinessDocType`` 0 to 3). Serialise them with
:func:`edxml.build.build`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from .model import (
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
    SignerInfo,
    StaffInfo,
    TraceHeader,
)


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
