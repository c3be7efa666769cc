"""Reading a document's ``MessageHeader`` and the parts it shares with status messages."""

from __future__ import annotations

from .errors import FieldInvalid
from .model import (
    Code,
    DocumentType,
    MessageHeader,
    Organization,
    OtherInfo,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
)
from .parse_node import Node
from .parse_values import text_of


def organization(node: Node) -> Organization:
    """Read a ``From`` or ``To`` block."""
    return Organization(
        organ_id=node.required("OrganId"),
        organization_in_charge=node.text("OrganizationInCharge"),
        organ_name=node.text("OrganName"),
        organ_add=node.text("OrganAdd"),
        email=node.text("Email"),
        telephone=node.text("Telephone"),
        fax=node.text("Fax"),
        website=node.text("Website"),
    )


def response_for(node: Node) -> ResponseFor:
    """Read a ``ResponseFor`` block."""
    return ResponseFor(
        organ_id=node.text("OrganId"),
        code=node.text("Code"),
        promulgation_date=node.day("PromulgationDate"),
        document_id=node.text("DocumentId"),
    )


def staff_info(node: Node | None) -> StaffInfo | None:
    """Read a ``StaffInfo`` block, if there is one."""
    if node is None:
        return None
    return StaffInfo(
        department=node.text("Department"),
        staff=node.text("Staff"),
        email=node.text("Email"),
        mobile=node.text("Mobile"),
    )


def message_header(node: Node) -> MessageHeader:
    """Read a document's ``MessageHeader``; ``FieldInvalid`` when ``From`` is missing."""
    sender = node.child("From")
    if sender is None:
        raise FieldInvalid("From is required", path=f"{node.path}/From")
    code = node.child("Code")
    promulgation = node.child("PromulgationInfo")
    doc_type = node.child("DocumentType")
    signer = node.child("SignerInfo")
    to_places = node.child("ToPlaces")
    return MessageHeader(
        from_=organization(sender),
        to=tuple(organization(to) for to in node.children("To")),
        document_id=node.text("DocumentId"),
        code=None
        if code is None
        else Code(
            code_number=code.text("CodeNumber") or "", code_notation=code.text("CodeNotation") or ""
        ),
        promulgation_info=None
        if promulgation is None
        else PromulgationInfo(
            place=promulgation.text("Place"),
            promulgation_date=promulgation.day("PromulgationDate"),
        ),
        document_type=None
        if doc_type is None
        else DocumentType(
            type=doc_type.integer("Type"),
            type_detail=doc_type.integer("TypeDetail"),
            type_name=doc_type.text("TypeName"),
        ),
        subject=node.text("Subject"),
        content=node.text("Content"),
        signer_info=None
        if signer is None
        else SignerInfo(
            competence=signer.text("Competence"),
            position=signer.text("Position"),
            full_name=signer.text("FullName"),
        ),
        due_date=node.day("DueDate"),
        other_info=_other_info(node.child("OtherInfo")),
        response_for=tuple(response_for(r) for r in node.children("ResponseFor")),
        steering_type=node.integer("SteeringType"),
        to_places=None if to_places is None else tuple(text_of(p) for p in to_places.all("Place")),
    )


def _other_info(node: Node | None) -> OtherInfo | None:
    if node is None:
        return None
    appendixes = node.child("Appendixes")
    return OtherInfo(
        priority=node.integer("Priority"),
        sphere_of_promulgation=node.text("SphereOfPromulgation"),
        typer_notation=node.text("TyperNotation"),
        promulgation_amount=node.integer("PromulgationAmount"),
        page_amount=node.integer("PageAmount"),
        direction=node.text("Direction"),
        appendixes=None
        if appendixes is None
        else tuple(text_of(a) for a in appendixes.all("Appendix")),
    )
