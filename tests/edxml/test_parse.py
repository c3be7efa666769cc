"""Tests for edxml/parse.py: the real packets, the wire quirks and the hostile-input basics."""

from __future__ import annotations

import base64
import os
import unicodedata
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from edxml.errors import (
    DtdForbidden,
    EdxmlError,
    FieldInvalid,
    LimitExceeded,
    NotWellFormed,
    StatusCodeInvalid,
    WrongNamespace,
)
from edxml.model import NAMESPACE, BusinessDocType, Envelope, StatusCode, StatusMessage
from edxml.parse import Limits, packet_from_element, parse, safe_fromstring

ICT = timezone(timedelta(hours=7))
DC0 = "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"


def _read(real_dir: Path, name: str) -> bytes:
    return (real_dir / name).read_bytes()


def _doc(real_dir: Path, name: str) -> Envelope:
    packet = parse(_read(real_dir, name))
    assert isinstance(packet, Envelope)
    return packet


def _status_xml(container: str, code: str, extra: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NAMESPACE}"><edXMLEnvelope><edXMLHeader><{container}>
<From><OrganId>000.00.00.H41</OrganId></From>
<ResponseFor><OrganId>000.00.00.G22</OrganId><Code>1/VPCP</Code>
<PromulgationDate>2024/01/02</PromulgationDate><DocumentId>x</DocumentId></ResponseFor>
<StatusCode>{code}</StatusCode>{extra}<Timestamp>2024/01/03 08:00:00</Timestamp>
</{container}></edXMLHeader></edXMLEnvelope></edXML>""".encode()


# ------------------------------------------------------------------ the five real packets


def test_vpcp_sample_values(real_dir: Path) -> None:
    p = _doc(real_dir, DC0)
    assert p.sender == "000.00.00.G22"
    assert p.recipients == ("000.00.00.H41", "000.00.00.H14", "000.00.00.G17")
    assert p.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert p.header.code is not None
    assert (p.header.code.code_number, p.header.code.code_notation) == ("7816", "VPCP-TTĐT")
    assert p.header.promulgation_info is not None
    assert p.header.promulgation_info.place == "Hà Nội"
    assert p.header.promulgation_info.promulgation_date == date(2019, 4, 11)
    assert p.header.due_date == date(2019, 4, 11)
    assert p.header.document_type is not None and p.header.document_type.type == 1
    assert p.header.document_type.type_name == "Công văn"
    assert p.header.steering_type == 1
    assert p.header.to_places == ("Cac bo va co quan ngang bo", "Uy ban nhan dan cac tinh, TP")
    assert p.header.other_info is not None
    assert p.header.other_info.priority == 0
    assert p.header.other_info.page_amount == 22
    assert p.header.other_info.appendixes == (
        "Công văn về việc kết nối, liên thông phần mềm quản lý văn bản",
    )
    assert p.header.from_.organ_add == "Số 1 Hoàng Hoa Thám, Quận Ba Đình, Hà Nội"
    assert p.traces[0].organ_id == "000.00.00.G22"
    assert p.traces[0].timestamp == datetime(2019, 4, 11, 0, 0, tzinfo=ICT)
    assert p.business is not None
    assert p.business.doc_type == BusinessDocType.NEW
    assert p.business.document_id == "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"
    assert p.business.staff_info is not None
    assert p.business.staff_info.staff == "Nguyễn Thị Ngọc Trâm"
    assert p.manifest_version == "1.0"
    assert [(r.content_id, r.content_type, r.attachment_name) for r in p.manifest] == [
        ("cid:209", "application/zip", "1896_QD-TTg_m_294779.doc")
    ]
    (att,) = p.attachments
    assert (att.content_id, att.attachment_name, att.content_type) == (
        "cid:209",
        "1896_QD-TTg_m_294779.doc",
        "application/zip",
    )
    assert base64.b64decode(att.encoded).startswith(b"PK\x03\x04")
    assert p.signature is not None
    assert p.signature.namespace == NAMESPACE
    assert p.signature.signature_method == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    assert p.signature.subject_name == "CN=user05"


def test_vpcp_edoc_new_three_group_code_and_letters_in_number(real_dir: Path) -> None:
    p = _doc(real_dir, "vpcp-sample-edoc_new.edxml")
    assert p.sender == "000.00.00.A80"
    assert p.recipients == ("28.22.H17",)
    assert p.header.code is not None and p.header.code.code_number == "74fass22"
    assert p.header.promulgation_info is not None
    assert p.header.promulgation_info.promulgation_date == date(2019, 1, 16)
    assert p.header.due_date == date(2018, 9, 28)
    # TraceHeader comes before Bussiness here: order does not matter.
    assert p.traces[0].timestamp == datetime(2018, 9, 28, tzinfo=ICT)
    assert p.business is not None and p.business.reason == "Văn bản điện tử mới"
    assert len(base64.b64decode(p.attachments[0].encoded)) > 200_000


def test_bkav_new_day_first_date_and_empty_elements(real_dir: Path) -> None:
    p = _doc(real_dir, "bkav-edoc_new.edxml")
    assert p.sender == "000.00.11.H53"
    assert p.recipients == ("000.00.01.A53",)
    assert p.document_id == "000.00.11.H53,2020/10/30,2491/STC-BCTC"
    assert p.header.promulgation_info is not None
    assert p.header.promulgation_info.promulgation_date == date(2020, 10, 30)
    assert p.header.from_.organ_add == ""  # present but empty is kept as ""
    assert p.header.from_.telephone == ""
    assert p.header.due_date is None  # empty date
    assert p.header.signer_info is not None and p.header.signer_info.full_name == ""
    assert p.header.other_info is not None and p.header.other_info.appendixes == ("",)
    assert p.header.code is not None and p.header.code.code_notation == "STC-BCTC"
    assert p.attachments[0].encoded.startswith("UEsDBBQ")


def test_bkav_update_receiver_list(real_dir: Path) -> None:
    p = _doc(real_dir, "bkav-edoc_update.edxml")
    assert p.sender == "000.00.00.G22"
    assert p.recipients == ("000.00.00.H53", "000.00.12.H53", "000.00.00.G17")
    assert p.business is not None
    assert p.business.doc_type == BusinessDocType.UPDATE
    assert p.business.reason == "Cập nhật văn bản điện tử"
    info = p.business.document_info
    assert info is not None
    assert (info.document_info, info.document_receiver) == ("1", "1")
    assert [(r.organ_id, r.receiver_type) for r in info.receivers] == [
        ("000.00.00.H41", 0),
        ("000.00.00.H14", 1),
    ]
    assert p.business.staff_info is not None
    assert p.business.staff_info.email == "vanthuvanphong@gov.vn"
    assert p.attachments[0].attachment_name == "1896_QD-TTg_m_294779.doc"


def test_bkav_status_in_message_header(real_dir: Path) -> None:
    p = parse(_read(real_dir, "bkav-status_processing_05.edxml"))
    assert isinstance(p, StatusMessage)
    assert p.container == "MessageHeader"
    assert p.status_code == StatusCode.PROCESSING
    assert p.sender == "000.00.00.H41"
    assert p.recipients == ("000.00.00.G22",)
    assert p.response_for.code == "7816/VPCP-TTĐT"
    assert p.response_for.promulgation_date == date(2015, 9, 30)
    assert p.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert p.description == "Đang xử lý văn bản đến"
    assert p.timestamp == datetime(2015, 9, 20, 11, 8, 36, tzinfo=ICT)
    assert p.staff_info is not None and p.staff_info.department == "Phong hanh chinh"


def test_malformed_template_is_refused(malformed_dir: Path) -> None:
    with pytest.raises(NotWellFormed) as info:
        parse((malformed_dir / "vpcp-template-edoc.edxml").read_bytes())
    assert info.value.code == "EDXML_NOT_WELL_FORMED"
    assert "tag mismatch" in info.value.text_en


# ------------------------------------------------------------------ wire quirks


def test_status_container_and_code_14_alias() -> None:
    p = parse(_status_xml("Status", "14"))
    assert isinstance(p, StatusMessage)
    assert p.status_code == StatusCode.RECALL_AGREED
    assert p.container == "Status"


@pytest.mark.parametrize("code", ["07", "99", "abc", ""])
def test_unknown_status_code(code: str) -> None:
    with pytest.raises(StatusCodeInvalid):
        parse(_status_xml("Status", code))


def test_order_insensitive_and_unknown_elements_ignored(real_dir: Path) -> None:
    data = _read(real_dir, DC0)
    root = safe_fromstring(data)
    header = root.find(f".//{{{NAMESPACE}}}MessageHeader")
    assert header is not None
    children = list(header)
    for child in children:
        header.remove(child)
    tos = [c for c in children if c.tag == f"{{{NAMESPACE}}}To"]
    for child in [*reversed([c for c in children if c not in tos]), *tos]:
        header.append(child)
    etree.SubElement(header, f"{{{NAMESPACE}}}VendorExtension").text = "ignored"
    etree.SubElement(header, "{urn:vendor}Other").text = "ignored"
    trace_list = root.find(f".//{{{NAMESPACE}}}TraceHeaderList")
    assert trace_list is not None
    trace_list.insert(0, trace_list[-1])
    shuffled = parse(etree.tostring(root))
    assert shuffled == parse(data)
    assert shuffled.recipients == ("000.00.00.H41", "000.00.00.H14", "000.00.00.G17")


def test_business_spelling_accepted(real_dir: Path) -> None:
    data = _read(real_dir, "bkav-edoc_update.edxml")
    fixed = data.replace(b"Bussiness", b"Business")
    assert parse(fixed) == parse(data)


def test_text_is_nfc_normalised(real_dir: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Văn phòng Chính phủ")
    data = _read(real_dir, DC0).replace(
        "<edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>".encode(),
        f"<edXML:OrganName>{nfd}</edXML:OrganName>".encode(),
        1,
    )
    p = _doc_bytes(data)
    assert p.header.from_.organ_name == "Văn phòng Chính phủ"
    assert unicodedata.is_normalized("NFC", p.header.from_.organ_name or "")


def _doc_bytes(data: bytes) -> Envelope:
    packet = parse(data)
    assert isinstance(packet, Envelope)
    return packet


def test_xmldsig_signature_recorded(real_dir: Path) -> None:
    data = _read(real_dir, DC0)
    data = data.replace(b"<Signature>", b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">')
    p = _doc_bytes(data)
    assert p.signature is not None
    assert p.signature.namespace == "http://www.w3.org/2000/09/xmldsig#"
    assert p.signature.subject_name == "CN=user05"


def test_bad_date_is_field_invalid(real_dir: Path) -> None:
    for bad in ("2019/13/45", "hôm nay"):
        data = _read(real_dir, DC0).replace(
            b"2019/04/11</edXML:PromulgationDate>", f"{bad}</edXML:PromulgationDate>".encode()
        )
        with pytest.raises(FieldInvalid) as info:
            parse(data)
        assert info.value.path.endswith("PromulgationInfo/PromulgationDate")


def test_missing_from_is_field_invalid() -> None:
    data = f"""<edXML xmlns="{NAMESPACE}"><edXMLEnvelope><edXMLHeader><MessageHeader>
<To><OrganId>000.00.00.H41</OrganId></To></MessageHeader></edXMLHeader></edXMLEnvelope>
</edXML>""".encode()
    with pytest.raises(FieldInvalid) as info:
        parse(data)
    assert info.value.path == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From"


def test_packet_from_element_accepts_envelope(real_dir: Path) -> None:
    root = safe_fromstring(_read(real_dir, DC0))
    p = packet_from_element(root[0])
    assert isinstance(p, Envelope)
    assert p.sender == "000.00.00.G22" and p.attachments == ()


# ------------------------------------------------------------------ hostile basics

XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&x;</edXML>"""
LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&c;</edXML>"""


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (XXE, DtdForbidden),
        (LAUGHS, DtdForbidden),
        (b'<!DOCTYPE edXML><edXML xmlns="' + NAMESPACE.encode() + b'"/>', DtdForbidden),
        (
            b'<edXML xmlns="'
            + NAMESPACE.encode()
            + b'">'
            + b"<a>" * 80
            + b"</a>" * 80
            + b"</edXML>",
            LimitExceeded,
        ),
        (b"<edXML>" + b"<a>" * 3000 + b"</a>" * 3000 + b"</edXML>", LimitExceeded),
        (b'<edXML xmlns="' + NAMESPACE.encode() + b'">\xff\xfe</edXML>', NotWellFormed),
        (b'<edXML xmlns="urn:other"/>', WrongNamespace),
        (b"<edXML/>", WrongNamespace),
        (b"", NotWellFormed),
        (b"not xml", NotWellFormed),
        (
            '<?xml version="1.0" encoding="ISO-8859-1"?><edXML>é</edXML>'.encode("latin-1"),
            NotWellFormed,
        ),
    ],
)
def test_hostile_basics_refused(data: bytes, error: type[EdxmlError]) -> None:
    with pytest.raises(error):
        parse(data)


def test_size_limit() -> None:
    with pytest.raises(LimitExceeded):
        safe_fromstring(b"<a>" + b"x" * 2000 + b"</a>", Limits(max_bytes=1000))


def test_text_limit() -> None:
    data = b'<edXML xmlns="' + NAMESPACE.encode() + b'"><a>' + b"x" * 5000 + b"</a></edXML>"
    with pytest.raises(LimitExceeded):
        safe_fromstring(data, Limits(max_text_bytes=1000))


def test_no_entity_expansion_in_attribute_default(real_dir: Path) -> None:
    # An internal subset is refused even when no entity is referenced.
    data = (
        b'<?xml version="1.0"?>\n<!DOCTYPE edXML [<!ATTLIST edXML a CDATA "x">]>'
        + (_read(real_dir, DC0).split(b"?>", 1)[1])
    )
    with pytest.raises(DtdForbidden):
        parse(data)


# ------------------------------------------------------------------ big packets


def _big_packet(real_dir: Path, payload: bytes, before: bytes = b"") -> bytes:
    src = _read(real_dir, DC0)
    marker = b'QCVN_102_2016">'
    start = src.index(marker, src.index(b"<edXML:ContentTransferEncoded")) + len(marker)
    end = src.index(b"</edXML:ContentTransferEncoded>")
    head = src[:start].replace(b"<AttachmentEncoded>", b"<AttachmentEncoded>" + before)
    return head + payload + src[end:]


def test_big_packet_fast_path_equals_tree_reading(real_dir: Path) -> None:
    payload = base64.encodebytes(os.urandom(4 * 2**20))  # with newlines, ~5.4 MB
    data = _big_packet(real_dir, payload)
    fast = parse(data)
    slow = packet_from_element(safe_fromstring(data))
    assert isinstance(fast, Envelope)
    assert fast == slow
    assert fast.attachments[0].encoded == payload.decode("ascii")


def test_big_packet_decoy_in_comment_falls_back(real_dir: Path) -> None:
    decoy = b"<!--<ContentTransferEncoded>" + b"QUFB" * 100_000 + b"<x/> -->"
    data = _big_packet(real_dir, base64.b64encode(os.urandom(3 * 2**20)), before=decoy)
    fast = parse(data)
    assert fast == packet_from_element(safe_fromstring(data))


def test_big_packet_hostile_still_refused(real_dir: Path) -> None:
    data = _big_packet(real_dir, base64.b64encode(os.urandom(3 * 2**20)))
    with pytest.raises(DtdForbidden):
        parse(b'<?xml version="1.0"?><!DOCTYPE edXML>' + data.split(b"?>", 1)[1])
    with pytest.raises(LimitExceeded):
        parse(data, Limits(max_text_bytes=2**20))
