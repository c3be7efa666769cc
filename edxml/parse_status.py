"""Reading status messages (in ``Status`` or, as some producers send them, ``MessageHeader``)."""

from __future__ import annotations

from .errors import FieldInvalid, StatusCodeInvalid
from .model import SignatureInfo, StatusCode, StatusMessage, TraceHeader
from .parse_header import organization, response_for, staff_info
from .parse_node import Node


def looks_like_status(node: Node) -> bool:
    """Whether a ``MessageHeader`` is a status container (no ``To``, a status field)."""
    return not node.has("To") and node.has("StatusCode", "ResponseFor")


def status(
    node: Node, traces: tuple[TraceHeader, ...], signature: SignatureInfo | None
) -> StatusMessage:
    """Read a status container; ``FieldInvalid`` without ``From`` or ``ResponseFor``."""
    sender = node.child("From")
    if sender is None:
        raise FieldInvalid("From is required", path=f"{node.path}/From")
    answered = node.child("ResponseFor")
    if answered is None:
        raise FieldInvalid("ResponseFor is required", path=f"{node.path}/ResponseFor")
    return StatusMessage(
        from_=organization(sender),
        response_for=response_for(answered),
        status_code=status_code_from_text(node.text("StatusCode"), path=f"{node.path}/StatusCode"),
        staff_info=staff_info(node.child("StaffInfo")),
        description=node.text("Description"),
        timestamp=node.instant("Timestamp"),
        traces=traces,
        container="Status" if node.el.tag.endswith("}Status") else "MessageHeader",
        signature=signature,
    )


def status_code_from_text(text: str | None, *, path: str = "") -> StatusCode:
    """Read a wire status code (``"05"``, ``"5"``); ``14`` is read as ``15``."""
    if not text or not text.isdigit():
        raise StatusCodeInvalid(repr(text), path=path)
    value = int(text)
    if value == 14:
        value = StatusCode.RECALL_AGREED
    try:
        return StatusCode(value)
    except ValueError as exc:
        raise StatusCodeInvalid(text, path=path) from exc
