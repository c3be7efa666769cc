"""Tests for edxml/build.py: canonical order, round trips and the packet helpers."""

from __future__ import annotations

import base64
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from edxml.build import (
    STATUS_DESCRIPTIONS,
    build,
    document_id,
    new_document,
    recall,
    replace,
    status_message,
    update,
)
from edxml.errors import FieldInvalid
from edxml.model import (
    NAMESPACE,
    Attachment,
    BusinessDocType,
    Code,
    Envelope,
    Organization,
    StatusCode,
    StatusMessage,
)
from edxml.parse import parse

ICT = timezone(timedelta(hours=7))
DC0 = "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
VPCP = Organization("000.00.00.G22", organ_name="Văn phòng Chính phủ")
NGHE_AN = Organization("000.00.00.H41", organ_name="UBND Tỉnh Nghệ An")
CAO_BANG = Organization("000.00.00.H14", organ_name="UBND Tỉnh Cao Bằng")


def _names(el: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in el if isinstance(c.tag, str)]


def _sample_doc() -> Envelope:
    return new_document(
        sender=VPCP,
        to=[NGHE_AN, CAO_BANG],
        code=Code("12", "VPCP-TTĐT"),
        subject="V/v thử nghiệm",
        promulgation_date=date(2024, 5, 6),
        place="Hà Nội",
        attachments=[
            Attachment(
                "cid:1", "a.pdf", "a.pdf", "application/pdf", base64.b64encode(b"%PDF").decode()
            )
        ],
        timestamp=datetime(2024, 5, 6, 9, 30, tzinfo=ICT),
    )


@pytest.mark.parametrize(
    "name",
    [
        DC0,
        "vpcp-sample-edoc_new.edxml",
        "bkav-edoc_new.edxml",
        "bkav-edoc_update.edxml",
        "bkav-status_processing_05.edxml",
    ],
)
def test_round_trip_real_packets(real_dir: Path, name: str) -> None:
    first = parse((real_dir / name).read_bytes())
    data = build(first)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert parse(data) == first
    assert build(parse(data)) == data  # building is deterministic


def test_canonical_order_matches_sample(real_dir: Path) -> None:
    sample = etree.fromstring((real_dir / DC0).read_bytes())
    ours = etree.fromstring(build(parse((real_dir / DC0).read_bytes())))
    for path in (
        ".",
        "{*}edXMLEnvelope",
        "{*}edXMLEnvelope/{*}edXMLHeader/{*}MessageHeader",
        "{*}edXMLEnvelope/{*}edXMLHeader/{*}MessageHeader/{*}From",
        "{*}edXMLEnvelope/{*}edXMLHeader/{*}MessageHeader/{*}OtherInfo",
        "{*}edXMLEnvelope/{*}edXMLHeader/{*}TraceHeaderList",
        "{*}edXMLEnvelope/{*}edXMLHeader/{*}TraceHeaderList/{*}Bussiness",
        "{*}AttachmentEncoded/{*}Attachment",
    ):
        assert _names(ours.find(path)) == _names(sample.find(path)), path
    # The sample's header also holds its (legacy, unverifiable) Signature; we do not forge one.
    header = _names(ours.find("{*}edXMLEnvelope/{*}edXMLHeader"))
    assert header == ["MessageHeader", "TraceHeaderList"]
    assert ours.nsmap == {None: NAMESPACE}
    assert ours[0].prefix == "edXML"
    assert ours.find("{*}AttachmentEncoded/{*}Attachment/{*}ContentId").prefix is None


def test_new_document_helper() -> None:
    doc = _sample_doc()
    assert doc.document_id == "000.00.00.G22,2024/05/06,12/VPCP-TTĐT"
    assert doc.business is not None and doc.business.doc_type == BusinessDocType.NEW
    assert [r.content_id for r in doc.manifest] == ["cid:1"]
    again = parse(build(doc))
    assert again == doc
    assert again.traces[0].timestamp == datetime(2024, 5, 6, 9, 30, tzinfo=ICT)


def test_document_id_format() -> None:
    assert document_id("000.00.00.G22", date(2015, 9, 30), Code("7816", "VPCP-TTĐT")) == (
        "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    )


@pytest.mark.parametrize("code", list(StatusCode))
def test_status_message_each_code(code: StatusCode) -> None:
    status = status_message(sender=NGHE_AN, document=_sample_doc(), code=code)
    assert status.description == STATUS_DESCRIPTIONS[code]
    data = build(status)
    assert f"<edXML:StatusCode>{code.wire}</edXML:StatusCode>".encode() in data
    back = parse(data)
    assert isinstance(back, StatusMessage)
    assert back == status
    assert back.response_for.organ_id == "000.00.00.G22"
    assert back.response_for.code == "12/VPCP-TTĐT"
    assert back.document_id == "000.00.00.G22,2024/05/06,12/VPCP-TTĐT"


def test_status_code_14_becomes_15_and_unknown_refused() -> None:
    assert status_message(sender=NGHE_AN, document=_sample_doc(), code=14).status_code == 15
    with pytest.raises(ValueError):
        status_message(sender=NGHE_AN, document=_sample_doc(), code=7)


def test_recall_update_replace_round_trip() -> None:
    doc = _sample_doc()
    recalled = recall(doc, reason="Thu hồi do sai sót")
    assert recalled.business is not None
    assert recalled.business.doc_type == BusinessDocType.RECALL
    assert recalled.business.document_id == doc.document_id
    assert parse(build(recalled)) == recalled

    updated = update(doc, added=["000.00.00.H53"], removed=["000.00.00.H14"])
    assert updated.business is not None and updated.business.document_info is not None
    receivers = updated.business.document_info.receivers
    assert [(r.organ_id, r.receiver_type) for r in receivers] == [
        ("000.00.00.H14", 0),
        ("000.00.00.H53", 1),
    ]
    assert parse(build(updated)) == updated

    replaced = replace(doc, replaces="000.00.00.G22,2024/05/01,10/VPCP-TTĐT")
    assert replaced.business is not None
    assert replaced.business.doc_type == BusinessDocType.REPLACE
    (info,) = replaced.business.replacements
    assert info.organ_ids == ("000.00.00.H41", "000.00.00.H14")
    assert parse(build(replaced)) == replaced


def test_text_is_escaped_and_control_chars_refused() -> None:
    doc = new_document(
        sender=VPCP,
        to=[NGHE_AN],
        code=Code("1", "A&B"),
        subject="<b>x</b> & y",
        promulgation_date=date(2024, 1, 1),
    )
    assert parse(build(doc)) == doc
    bad = new_document(
        sender=VPCP,
        to=[NGHE_AN],
        code=Code("1", "X"),
        subject="a\x01b",
        promulgation_date=date(2024, 1, 1),
    )
    with pytest.raises(FieldInvalid):
        build(bad)


def test_non_base64_attachment_text_is_escaped() -> None:
    doc = new_document(
        sender=VPCP,
        to=[NGHE_AN],
        code=Code("1", "X"),
        subject="s",
        promulgation_date=date(2024, 1, 1),
        attachments=[Attachment("cid:x", encoded="a<b&c")],
    )
    assert parse(build(doc)) == doc


def test_big_attachment_spliced(real_dir: Path) -> None:
    payload = base64.b64encode(os.urandom(6 * 2**20)).decode()
    doc = new_document(
        sender=VPCP,
        to=[NGHE_AN],
        code=Code("1", "X"),
        subject="s",
        promulgation_date=date(2024, 1, 1),
        attachments=[
            Attachment("cid:a", "a.zip", encoded=payload),
            Attachment("cid:b", "b.zip", encoded=payload[:1000]),
        ],
    )
    back = parse(build(doc))
    assert isinstance(back, Envelope)
    assert back.attachments[0].encoded == payload
    assert back.attachments[1].encoded == payload[:1000]
