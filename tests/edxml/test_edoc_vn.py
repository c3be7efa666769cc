"""Old-namespace (e-doc.vn) packets: read into the QCVN 102 model and written back."""

from __future__ import annotations

import base64
import dataclasses
from datetime import date, datetime, timedelta, timezone

import pytest
from lxml import etree

from edxml.build import build, new_document, status_message
from edxml.edoc_vn import EDOC_NS, MimePart, key_info, read_document, read_status
from edxml.edoc_vn_build import attachment_parts, document_header, manifest, status
from edxml.errors import ManifestMismatch, StatusCodeInvalid
from edxml.model import (
    Attachment,
    Code,
    DocumentType,
    Organization,
    OtherInfo,
    ResponseFor,
    SignerInfo,
    StatusCode,
)
from edxml.parse import parse

VN = timezone(timedelta(hours=7))
PDF = b"%PDF-1.4\r\n\x00\xff" + bytes(range(256))
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def qcvn_envelope():
    return new_document(
        sender=Organization(
            organ_id="000.00.11.H99", organ_name="Sở A", organization_in_charge="UBND"
        ),
        to=[Organization(organ_id="000.00.12.H99", organ_name="Sở B", organ_add="X")],
        code=Code("12", "SA-VP"),
        subject="Về việc thử",
        promulgation_date=date(2024, 5, 10),
        place="Tây Ninh",
        document_type=DocumentType(type=1, type_name="Công văn"),
        signer_info=SignerInfo(competence="KT", position="Giám đốc", full_name="Nguyễn Văn A"),
        other_info=OtherInfo(priority=1, promulgation_amount=1, page_amount=2, appendixes=()),
        steering_type=0,
        timestamp=datetime(2024, 5, 10, 9, 0, tzinfo=VN),
        reason="New",
        attachments=[
            Attachment("att1", "a.pdf", None, "application/pdf", base64.b64encode(PDF).decode())
        ],
    )


def soap_of(header_children, body_children) -> tuple[etree._Element, etree._Element]:
    env = etree.Element(f"{{{SOAP}}}Envelope")
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    header.extend(header_children)
    body = etree.SubElement(env, f"{{{SOAP}}}Body")
    body.extend(body_children)
    # through bytes, as a request arrives
    env = etree.fromstring(etree.tostring(env))
    return env[0], env[1]


def test_written_form_reads_back_to_the_same_model() -> None:
    original = qcvn_envelope()
    parts = {p.content_id: p for p in attachment_parts(original)}
    # The hub's parts carry Base64 text; a sending client's parts carry the file itself.
    raw = {cid: MimePart(cid, p.content_type, base64.b64decode(p.data)) for cid, p in parts.items()}
    header, body = soap_of(document_header(original), [manifest(original)])
    again = read_document(header, body, raw)
    assert again.header == original.header
    assert again.traces == original.traces
    assert again.business is not None and original.business is not None
    assert again.business.doc_type == original.business.doc_type
    assert again.attachments[0].encoded == original.attachments[0].encoded
    assert again.manifest[0].attachment_name == "a.pdf"
    # ...and is the model a QCVN 102 packet gives: it builds and parses as one.
    assert parse(build(again)).header == original.header


def test_rebuilt_form_uses_the_hub_dates_and_no_credentials() -> None:
    header, body = soap_of(document_header(qcvn_envelope()), [manifest(qcvn_envelope())])
    text = etree.tostring(header).decode()
    assert "<edXML:PromulgationDate>10/05/2024</edXML:PromulgationDate>" in text
    assert "<edXML:Timestamp>10/05/2024 09:00:00</edXML:Timestamp>" in text
    assert "OrganInCharge" in text and "Token" not in text and "KeyInfo" not in text
    ref = body[0][0]
    assert ref.get("{http://www.w3.org/1999/xlink}href") == "cid:att1"
    assert ref.get("{http://www.w3.org/1999/xlink}type") == "application/pdf"


def request_header(xml: str) -> etree._Element:
    return etree.fromstring(f'<h xmlns="{EDOC_NS}">{xml}</h>')


def test_unqualified_request_with_key_info_and_missing_part() -> None:
    header = etree.fromstring(
        "<h><MessageHeader><From><OrganId>A</OrganId></From><To><OrganId>B</OrganId></To>"
        "<DocumentId>A,2024/05/10,1/X</DocumentId></MessageHeader>"
        "<Signature><KeyInfo><OrganId>A</OrganId><Token>secret</Token></KeyInfo></Signature></h>"
    )
    info = key_info(header)
    assert info is not None and (info.organ_id, info.token) == ("A", "secret")
    body = etree.fromstring(
        '<b xmlns:xlink="http://www.w3.org/1999/xlink"><Manifest>'
        '<Reference xlink:href="cid:x1"><AttachmentName>a.pdf</AttachmentName></Reference>'
        "</Manifest></b>"
    )
    envelope = read_document(header, body, {"x1": MimePart("x1", "application/pdf", PDF)})
    assert envelope.sender == "A" and envelope.recipients == ("B",)
    assert base64.b64decode(envelope.attachments[0].encoded) == PDF
    assert "secret" not in repr(envelope)
    with pytest.raises(ManifestMismatch):
        read_document(header, body, {})


def test_status_reads_unpadded_codes_and_writes_them_back() -> None:
    node = etree.fromstring(
        f'<Status xmlns="{EDOC_NS}"><From><OrganId>B</OrganId></From><ResponseFor>'
        "<OrganId>A</OrganId><Code>12/SA-VP</Code><PromulgationDate>2024/05/10</PromulgationDate>"
        "<DocumentId>A,2024/05/10,12/SA-VP</DocumentId></ResponseFor><StatusCode>3</StatusCode>"
        "<Timestamp>2024/05/10 10:00:00</Timestamp></Status>"
    )
    message = read_status(node)
    assert message.status_code is StatusCode.ACCEPTED and message.sender == "B"
    out = etree.tostring(status(message)).decode()
    assert "<edXML:StatusCode>3</edXML:StatusCode>" in out
    assert "<edXML:PromulgationDate>2024/05/10</edXML:PromulgationDate>" in out
    assert "<edXML:Timestamp>2024/05/10 10:00:00</edXML:Timestamp>" in out
    node.find(f"{{{EDOC_NS}}}StatusCode").text = "7"
    with pytest.raises(StatusCodeInvalid):
        read_status(node)


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5, 6, 13, 15, 16])
def test_every_hub_status_code_maps_to_the_same_code(code: int) -> None:
    built = status(
        status_message(
            sender=Organization(organ_id="B"),
            document=ResponseFor(organ_id="A", document_id="A,2024/05/10,1/X"),
            code=code,
        )
    )
    assert int(read_status(built).status_code) == code


def test_content_ids_are_made_safe_for_mime_headers() -> None:
    envelope = dataclasses.replace(
        qcvn_envelope(),
        attachments=(Attachment("a b\r\nX-Evil: 1", "a.pdf", None, "text/html\r\nX: y", "QQ=="),),
    )
    (part,) = attachment_parts(envelope)
    assert "\r" not in part.content_id and " " not in part.content_id
    assert part.content_type == "application/octet-stream"
    href = manifest(envelope)[0].get("{http://www.w3.org/1999/xlink}href")
    assert href == f"cid:{part.content_id}"
