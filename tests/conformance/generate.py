"""Write the project's own conformance packets, one per quirk seen on the wire.

The third-party samples of the national axis and of a provincial hub (``../shared/conformance``)
are not ours and are never copied here. These packets are written by the project: their
content is invented, and each reproduces one quirk listed in that folder's SOURCES.md, so that
a bare clone of the repository tests every quirk. Run ``python -m tests.conformance.generate``
to write them again; the output is deterministic and committed.
"""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "packets"
NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

SENDER = "000.00.00.G22"
RECIPIENTS = ("000.00.00.H41", "000.00.00.H14")
DOCUMENT_ID = "000.00.00.G22,2025/03/17,215/VPCP-KSTT"
BUSINESS_DOCUMENT_ID = "000.00.00.G22,2025/02/30,214/VPCP-KSTT"  # an impossible date
SUBJECT = "V/v vận hành thử cổng trao đổi văn bản điện tử của tỉnh"


def _attachment_zip() -> bytes:
    """A zip holding one small Word 97 file (OLE2 magic), with fixed timestamps."""
    doc = bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 504 + "Nội dung thử nghiệm".encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("cong-van-215.doc", date_time=(2025, 3, 17, 8, 0, 0))
        archive.writestr(info, doc)
    return buf.getvalue()


def _organ(tag: str, code: str, name: str) -> str:
    return f"""        <edXML:{tag}>
          <edXML:OrganId>{code}</edXML:OrganId>
          <edXML:OrganizationInCharge>{name}</edXML:OrganizationInCharge>
          <edXML:OrganName>{name}</edXML:OrganName>
          <edXML:OrganAdd>Số 12 phố Thử Nghiệm, Hà Nội</edXML:OrganAdd>
          <edXML:Email>vanthu@example.gov.vn</edXML:Email>
        </edXML:{tag}>
"""


def _header_parts(
    *,
    recipients: tuple[str, ...],
    document_id: str,
    code_number: str,
    promulgation_date: str,
) -> dict[str, str]:
    """The MessageHeader children, by name, in the order QCVN 102 gives them."""
    to = "".join(_organ("To", code, f"Cơ quan nhận {code}") for code in recipients)
    return {
        "From": _organ("From", SENDER, "Văn phòng Chính phủ"),
        "To": to,
        "DocumentId": f"        <edXML:DocumentId>{document_id}</edXML:DocumentId>\n",
        "Code": f"""        <edXML:Code>
          <edXML:CodeNumber>{code_number}</edXML:CodeNumber>
          <edXML:CodeNotation>VPCP-KSTT</edXML:CodeNotation>
        </edXML:Code>
""",
        "PromulgationInfo": f"""        <edXML:PromulgationInfo>
          <edXML:Place>Hà Nội</edXML:Place>
          <edXML:PromulgationDate>{promulgation_date}</edXML:PromulgationDate>
        </edXML:PromulgationInfo>
""",
        "DocumentType": """        <edXML:DocumentType>
          <edXML:Type>1</edXML:Type>
          <edXML:TypeDetail>0</edXML:TypeDetail>
          <edXML:TypeName>Công văn</edXML:TypeName>
        </edXML:DocumentType>
""",
        "Subject": f"        <edXML:Subject>{SUBJECT}</edXML:Subject>\n",
        "Content": "        <edXML:Content>Đề nghị phối hợp vận hành thử.</edXML:Content>\n",
        "SignerInfo": """        <edXML:SignerInfo>
          <edXML:Competence>KT. BỘ TRƯỞNG</edXML:Competence>
          <edXML:Position>Thứ trưởng</edXML:Position>
          <edXML:FullName>Trần Văn Thử</edXML:FullName>
        </edXML:SignerInfo>
""",
        "DueDate": "        <edXML:DueDate>2025/03/31</edXML:DueDate>\n",
        "OtherInfo": """        <edXML:OtherInfo>
          <edXML:Priority>1</edXML:Priority>
          <edXML:SphereOfPromulgation>Liên thông văn bản quốc gia</edXML:SphereOfPromulgation>
          <edXML:TyperNotation>TVT</edXML:TyperNotation>
          <edXML:PromulgationAmount>1</edXML:PromulgationAmount>
          <edXML:PageAmount>2</edXML:PageAmount>
        </edXML:OtherInfo>
""",
        "SteeringType": "        <edXML:SteeringType>1</edXML:SteeringType>\n",
    }


def _trace_parts(doc_type: int, reason: str, business_tag: str) -> dict[str, str]:
    return {
        "Business": f"""        <edXML:{business_tag}>
          <edXML:DocumentId>{BUSINESS_DOCUMENT_ID}</edXML:DocumentId>
          <edXML:{business_tag}DocType>{doc_type}</edXML:{business_tag}DocType>
          <edXML:{business_tag}DocReason>{reason}</edXML:{business_tag}DocReason>
          <edXML:Paper>0</edXML:Paper>
        </edXML:{business_tag}>
""",
        "TraceHeader": f"""        <edXML:TraceHeader>
          <edXML:OrganId>{SENDER}</edXML:OrganId>
          <edXML:Timestamp>2025/03/17 08:30:00</edXML:Timestamp>
        </edXML:TraceHeader>
""",
    }


# A placeholder signature, shaped as producers on the axis write it: no prefix, in the edXML
# namespace (not XML-DSig's), with a digest and value that verify nothing.
PLACEHOLDER_SIGNATURE = """      <Signature>
        <SignedInfo>
          <CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315" />
          <SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1" />
          <Reference URI="">
            <DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1" />
            <DigestValue>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</DigestValue>
          </Reference>
        </SignedInfo>
        <SignatureValue>cGxhY2Vob2xkZXI=</SignatureValue>
        <KeyInfo><X509Data><X509SubjectName>CN=placeholder</X509SubjectName></X509Data></KeyInfo>
      </Signature>
"""


def document(
    *,
    header_order: tuple[str, ...] | None = None,
    trace_order: tuple[str, ...] = ("Business", "TraceHeader"),
    business_tag: str = "Bussiness",
    doc_type: int = 0,
    reason: str = "Văn bản điện tử mới",
    recipients: tuple[str, ...] = RECIPIENTS,
    document_id: str = DOCUMENT_ID,
    code_number: str = "215",
    promulgation_date: str = "2025/03/17",
    signature: str = PLACEHOLDER_SIGNATURE,
) -> str:
    """One document packet as producers on the axis write it, with the quirks chosen."""
    parts = _header_parts(
        recipients=recipients,
        document_id=document_id,
        code_number=code_number,
        promulgation_date=promulgation_date,
    )
    header = "".join(parts[name] for name in (header_order or tuple(parts)))
    traces = _trace_parts(doc_type, reason, business_tag)
    trace = "".join(traces[name] for name in trace_order)
    payload = base64.b64encode(_attachment_zip()).decode()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
{header}      </edXML:MessageHeader>
      <edXML:TraceHeaderList>
{trace}      </edXML:TraceHeaderList>
{signature}    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
        <edXML:Reference>
          <edXML:ContentId>cid:101</edXML:ContentId>
          <edXML:ContentType>application/zip</edXML:ContentType>
          <edXML:Description>cong-van-215.doc</edXML:Description>
          <edXML:AttachmentName>cong-van-215.doc</edXML:AttachmentName>
        </edXML:Reference>
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
    <Attachment>
      <ContentId>cid:101</ContentId>
      <AttachmentName>cong-van-215.doc</AttachmentName>
      <Description>cong-van-215.doc</Description>
      <ContentType>application/zip</ContentType>
      <edXML:ContentTransferEncoded xmlns:edXML="{NS}">{payload}</edXML:ContentTransferEncoded>
    </Attachment>
  </AttachmentEncoded>
</edXML>
"""


def status_in_message_header(code: str = "05") -> str:
    """A status packet whose container element is MessageHeader (not Status)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From>
          <edXML:OrganId>000.00.00.H41</edXML:OrganId>
          <edXML:OrganName>Ủy ban nhân dân tỉnh thử nghiệm</edXML:OrganName>
          <edXML:OrganizationInCharge>Ủy ban nhân dân tỉnh thử nghiệm</edXML:OrganizationInCharge>
        </edXML:From>
        <edXML:ResponseFor>
          <edXML:OrganId>{SENDER}</edXML:OrganId>
          <edXML:Code>215/VPCP-KSTT</edXML:Code>
          <edXML:PromulgationDate>2025/03/17</edXML:PromulgationDate>
          <edXML:DocumentId>{DOCUMENT_ID}</edXML:DocumentId>
        </edXML:ResponseFor>
        <edXML:StaffInfo>
          <edXML:Department>Văn phòng</edXML:Department>
          <edXML:Staff>Lê Thị Thử</edXML:Staff>
        </edXML:StaffInfo>
        <edXML:StatusCode>{code}</edXML:StatusCode>
        <edXML:Description>Đang xử lý văn bản đến</edXML:Description>
        <edXML:Timestamp>2025/03/18 09:15:00</edXML:Timestamp>
      </edXML:MessageHeader>
    </edXML:edXMLHeader>
  </edXML:edXMLEnvelope>
</edXML>
"""


def malformed() -> str:
    """A load-test template that is not well-formed: an unclosed nested From, an undeclared
    xlink prefix and a placeholder where base64 belongs."""
    good = document()
    broken = good.replace(
        "<edXML:OrganId>000.00.00.G22</edXML:OrganId>",
        "<edXML:OrganId>000.00.00.G22</edXML:OrganId>\n          <edXML:From>",
        1,
    )
    broken = broken.replace("<edXML:Reference>", '<edXML:Reference xlink:href="#a">', 1)
    start = broken.index('<edXML:ContentTransferEncoded xmlns:edXML="')
    start = broken.index(">", start) + 1
    end = broken.index("</edXML:ContentTransferEncoded>")
    return broken[:start] + "${ATTACHMENT_BASE64}" + broken[end:]


# Fixture name -> (packet text, the quirk it reproduces). SOURCES.md lists the quirks.
SHUFFLED_HEADER = (
    "Subject", "From", "Code", "To", "DocumentId", "DocumentType", "PromulgationInfo",
    "Content", "OtherInfo", "SignerInfo", "SteeringType", "DueDate",
)  # fmt: skip

FIXTURES: dict[str, tuple[str, str]] = {
    "document-new.edxml": (
        document(),
        "a new document: Bussiness (double s), impossible date in the Bussiness DocumentId, "
        "unprefixed placeholder Signature in the edXML namespace, AttachmentEncoded beside "
        "edXMLEnvelope with unprefixed children, zipped .doc declared application/zip",
    ),
    "element-order.edxml": (
        document(header_order=SHUFFLED_HEADER, trace_order=("TraceHeader", "Business")),
        "MessageHeader and TraceHeaderList children in another producer's order",
    ),
    "date-dd-mm-yyyy.edxml": (
        document(promulgation_date="17/03/2025"),
        "PromulgationDate written dd/MM/yyyy",
    ),
    "document-id-other-agency.edxml": (
        document(document_id="000.00.00.H41,2025/03/17,215/VPCP-KSTT"),
        "DocumentId whose agency part is not the sender",
    ),
    "code-number-letters.edxml": (
        document(code_number="21ab5c"),
        "CodeNumber holding letters",
    ),
    "three-group-code.edxml": (
        document(recipients=("000.00.00.H41", "28.22.H17")),
        "a recipient with a 3-group identifier code",
    ),
    "business-spelled-right.edxml": (
        document(business_tag="Business"),
        "Business spelled with one s (the standard's spelling, also seen)",
    ),
    "update-document.edxml": (
        document(doc_type=2, reason="Cập nhật văn bản điện tử"),
        "an update (BussinessDocType=2) of an earlier document",
    ),
    "status-message-header.edxml": (
        status_in_message_header(),
        "a status 05 whose container element is MessageHeader, not Status",
    ),
}

MALFORMED: dict[str, tuple[str, str]] = {
    "load-test-template.edxml": (
        malformed(),
        "not well-formed: unclosed nested From, undeclared xlink prefix, placeholder base64",
    ),
}


def main() -> None:
    """Write every fixture under ``packets/`` (accepted) and ``packets/malformed/``."""
    (OUT / "malformed").mkdir(parents=True, exist_ok=True)
    for name, (text, _) in FIXTURES.items():
        (OUT / name).write_text(text, encoding="utf-8")
    for name, (text, _) in MALFORMED.items():
        (OUT / "malformed" / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
