"""Making status messages in the model: a receiver's answer about a document (SPEC §4).
Serialise them with :func:`edxml.build.build`.
"""

from __future__ import annotations

from datetime import datetime

from .model import Envelope, Organization, ResponseFor, StaffInfo, StatusCode, StatusMessage

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
