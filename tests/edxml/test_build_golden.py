"""Written packets stay byte for byte what they were: edXML (``edxml.build``) and the hub's
old-namespace form (``edxml.edoc_vn_build``), compared with files in ``golden/``.

The inputs are the project's own conformance packets (read, then written again) and packets
made here that fill every field the writers know (both date forms, every block, timestamps
in other zones and naive ones, an attachment text that cannot be spliced). The files were
written by the code before ``edxml/build.py`` was split; a change that alters any written
byte fails here. If the change is meant, run ``python -m tests.edxml.test_build_golden`` to
write the files again and review their diff.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from edxml.build import build, new_document, recall, replace, status_message, update
from edxml.edoc_vn_build import attachment_parts, document_header, manifest, status
from edxml.model import (
    Attachment,
    Code,
    DocumentType,
    Envelope,
    Organization,
    OtherInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusMessage,
    TraceHeader,
)
from edxml.parse import parse
from tests.conformance import OWN_NAMES, own

GOLDEN = Path(__file__).resolve().parent / "golden"
ICT = timezone(timedelta(hours=7))

SENDER = Organization(
    "000.00.00.G22",
    organization_in_charge="Chính phủ",
    organ_name="Văn phòng Chính phủ",
    organ_add="Hà Nội",
    email="vpcp@example.vn",
    telephone="024",
    fax="025",
    website="https://vpcp.example.vn",
)
RECIPIENT = Organization("000.00.00.H41", organization_in_charge="", organ_name="UBND Nghệ An")
STAFF = StaffInfo("Văn thư", "Nguyễn Văn A", "a@example.vn", "0900")


def _full_document() -> Envelope:
    return new_document(
        sender=SENDER,
        to=[RECIPIENT, Organization("000.00.00.H14")],
        code=Code("215", "VPCP-KSTT"),
        subject="V/v <thử> & nghiệm",
        promulgation_date=date(2025, 3, 7),
        place="Hà Nội",
        document_type=DocumentType(type=1, type_detail=2, type_name="Công văn"),
        content="Nội dung",
        signer_info=SignerInfo("KT. Bộ trưởng", "Thứ trưởng", "Trần Văn B"),
        due_date=date(2025, 4, 1),
        other_info=OtherInfo(
            priority=1,
            sphere_of_promulgation="Toàn quốc",
            typer_notation="TB",
            promulgation_amount=3,
            page_amount=2,
            direction="Chỉ đạo",
            appendixes=("Phụ lục 1", ""),
        ),
        steering_type=1,
        to_places=["Các bộ", "Các tỉnh"],
        staff_info=STAFF,
        timestamp=datetime(2025, 3, 7, 1, 2, 3, tzinfo=UTC),
        attachments=[
            Attachment("cid:1", "a.pdf", "Tệp", "application/pdf", "JVBERi0xLjQK\nJSVFT0YK"),
            Attachment("cid:2", encoded="a<b&c\r\n"),
        ],
    )


def _packets() -> dict[str, Envelope | StatusMessage]:
    doc = _full_document()
    packets: dict[str, Envelope | StatusMessage] = {
        f"own-{name.removesuffix('.edxml')}": parse(own(name)) for name in OWN_NAMES
    }
    packets["made-document"] = doc
    packets["made-naive-traces"] = dataclasses.replace(
        doc,
        traces=(
            TraceHeader("000.00.00.G22", datetime(2025, 3, 7, 8, 0)),
            TraceHeader("000.00.00.H41", None),
            TraceHeader("000.00.00.H14", datetime(2025, 3, 7, 9, 0, tzinfo=ICT)),
        ),
    )
    packets["made-recall"] = recall(doc)
    packets["made-update"] = update(
        doc, added=["000.00.00.H53"], removed=["000.00.00.H14"], document_info_changed=True
    )
    packets["made-replace"] = replace(doc, replaces="000.00.00.G22,2025/03/01,200/VPCP-KSTT")
    packets["made-status"] = status_message(
        sender=RECIPIENT,
        document=doc,
        code=StatusCode.PROCESSING,
        staff_info=STAFF,
        timestamp=datetime(2025, 3, 8, 1, 0, tzinfo=UTC),
    )
    packets["made-status-message-header"] = dataclasses.replace(
        status_message(
            sender=SENDER,
            document=ResponseFor("000.00.00.H41", "12/UBND", date(2025, 1, 2), "x,2025/01/02,12"),
            code=14,
            timestamp=datetime(2025, 3, 8, 9, 30),
        ),
        container="MessageHeader",
        traces=(TraceHeader("000.00.00.G22", datetime(2025, 3, 8, 9, 30, tzinfo=ICT)),),
    )
    return packets


def _hub_form(packet: Envelope | StatusMessage) -> bytes:
    if isinstance(packet, StatusMessage):
        return etree.tostring(status(packet), encoding="UTF-8")
    elements = [*document_header(packet), manifest(packet)]
    parts = b"".join(
        f"{p.content_id} {p.content_type} ".encode() + p.data + b"\n"
        for p in attachment_parts(packet)
    )
    return b"\n".join(etree.tostring(el, encoding="UTF-8") for el in elements) + b"\n" + parts


def golden_outputs() -> dict[str, bytes]:
    """Every golden file's name and the bytes the writers give for it now."""
    out: dict[str, bytes] = {}
    for name, packet in _packets().items():
        out[f"{name}.edxml"] = build(packet)
        out[f"{name}.hub.xml"] = _hub_form(packet)
    return out


OUTPUTS = golden_outputs()


def test_every_golden_file_is_still_written() -> None:
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(OUTPUTS)


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_written_bytes_are_the_golden_ones(name: str) -> None:
    assert OUTPUTS[name] == (GOLDEN / name).read_bytes()


@pytest.mark.parametrize("name", sorted(n for n in OUTPUTS if n.endswith(".edxml")))
def test_golden_packets_are_written_again_unchanged(name: str) -> None:
    assert build(parse(OUTPUTS[name])) == OUTPUTS[name]


def main() -> None:
    """Write the golden files again (review their diff before committing)."""
    GOLDEN.mkdir(exist_ok=True)
    for old in GOLDEN.iterdir():
        old.unlink()
    for name, data in OUTPUTS.items():
        (GOLDEN / name).write_bytes(data)


if __name__ == "__main__":
    main()
