"""Reading ``TraceHeaderList``: the trace and the ``Bussiness`` block (either spelling)."""

from __future__ import annotations

from .errors import FieldInvalid
from .model import (
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Receiver,
    ReplacementInfo,
    TraceHeader,
)
from .parse_header import staff_info
from .parse_node import Node
from .parse_values import text_of


def trace_list(node: Node | None) -> tuple[tuple[TraceHeader, ...], Business | None]:
    """Read the traces and the business block of a ``TraceHeaderList`` (none when absent)."""
    if node is None:
        return (), None
    traces = tuple(
        TraceHeader(organ_id=t.required("OrganId"), timestamp=t.instant("Timestamp"))
        for t in node.children("TraceHeader")
    )
    business = node.child("Bussiness", "Business")
    return traces, None if business is None else _business(business)


def _business(node: Node) -> Business:
    doc_type = node.integer("BussinessDocType")
    if doc_type is None:
        doc_type = node.integer("BusinessDocType")
    info = node.child("BussinessDocumentInfo", "BusinessDocumentInfo")
    replacements = node.child("ReplacementInfoList")
    return Business(
        document_id=node.text("DocumentId"),
        doc_type=_doc_type(doc_type),
        reason=node.text("BussinessDocReason")
        if node.has("BussinessDocReason")
        else node.text("BusinessDocReason"),
        paper=node.integer("Paper"),
        staff_info=staff_info(node.child("StaffInfo")),
        document_info=None if info is None else _business_info(info),
        replacements=()
        if replacements is None
        else tuple(_replacement(r) for r in replacements.children("ReplacementInfo")),
    )


def _doc_type(value: int | None) -> int:
    if value is None:
        return BusinessDocType.NEW
    try:
        return BusinessDocType(value)
    except ValueError:
        return value  # out of range: kept so that the schema/rules report it


def _business_info(node: Node) -> BusinessDocumentInfo:
    receivers: list[Receiver] = []
    receiver_list = node.child("ReceiverList")
    if receiver_list is not None:
        for receiver in receiver_list.children("Receiver"):
            kind = receiver.integer("ReceiverType")
            if kind is None:
                raise FieldInvalid("ReceiverType is required", path=f"{receiver.path}/ReceiverType")
            receivers.append(Receiver(organ_id=receiver.required("OrganId"), receiver_type=kind))
    return BusinessDocumentInfo(
        document_info=node.text("DocumentInfo"),
        document_receiver=node.text("DocumentReceiver"),
        receivers=tuple(receivers),
    )


def _replacement(node: Node) -> ReplacementInfo:
    organs = node.child("OrganIdList")
    return ReplacementInfo(
        document_id=node.required("DocumentId"),
        organ_ids=() if organs is None else tuple(text_of(o) for o in organs.all("OrganId")),
    )
