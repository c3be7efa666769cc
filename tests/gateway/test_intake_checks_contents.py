"""The check workers send the attachments' content back only when the legal review needs it."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from edxml.build import build, new_document
from edxml.model import Attachment, Code, Envelope, Organization
from gateway.core.intake_checks import CheckPool, run_checks
from gateway.legal.review import LegalReview
from tests.pdf_pki import RevocableCA, RevocationServer, blank_pdf, sign_pdf

NOW = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def signed_pdf() -> Iterator[bytes]:
    with RevocationServer() as server:
        ca = RevocableCA("Ban Cơ yếu Chính phủ (test)", server)
        yield sign_pdf(blank_pdf(), ca.issue("Nguyễn Văn A", organization="Văn phòng Chính phủ"))


def packet(*files: tuple[str, str, bytes]) -> bytes:
    attachments = [
        Attachment(f"cid:{i}", name, None, ctype, base64.b64encode(data).decode())
        for i, (name, ctype, data) in enumerate(files, start=1)
    ]
    return build(
        new_document(
            sender=Organization(organ_id="000.00.00.G22"),
            to=[Organization(organ_id="000.00.00.H41")],
            code=Code("12", "VPCP-TH"),
            subject="Tệp đính kèm qua tiến trình phụ",
            promulgation_date=date(2026, 1, 5),
            attachments=attachments,
        )
    )


def zipped(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def encoded(envelope: object) -> list[str]:
    assert isinstance(envelope, Envelope)
    return [a.encoded for a in envelope.attachments]


async def test_plain_attachments_come_back_summed_up_without_their_content() -> None:
    raw = packet(("to-trinh.txt", "text/plain", "Tờ trình số 12".encode() * 50))
    checked, _ = await CheckPool((), workers=1).check(raw, "legacy", NOW)
    assert encoded(checked.packet) == [""]
    (fact,) = checked.contents
    inline, _ = run_checks(raw, "legacy", (), NOW)
    assert checked.contents == inline.contents and encoded(inline.packet) != [""]
    assert (fact.name, fact.pdf, fact.macros) == ("to-trinh.txt", False, False)
    # The review reports the same without the content as from the full packet.
    review = LegalReview()
    slim = await review.review(raw, checked.packet, "x", "S", None, checked.contents)
    full = await review.review(raw, inline.packet, "x", "S", None)
    assert slim == full and slim.attachments[0]["sha256"] == fact.sha256


async def test_a_pdf_even_inside_a_zip_brings_the_content_back(signed_pdf: bytes) -> None:
    for files in (
        [("quyet-dinh.pdf", "application/pdf", signed_pdf)],
        [("ho-so.zip", "application/zip", zipped("ban-chinh.pdf", signed_pdf))],
    ):
        raw = packet(*files)
        checked, _ = await CheckPool((), workers=1).check(raw, "legacy", NOW)
        assert checked.contents[0].pdf, files[0][0]
        assert encoded(checked.packet) == encoded(run_checks(raw, "legacy", (), NOW)[0].packet)
        report = await LegalReview().review(raw, checked.packet, "x", "S", None, checked.contents)
        assert report.attachments[0]["pdf_signatures"], files[0][0]


async def test_a_configured_scanner_brings_every_content_back() -> None:
    raw = packet(("to-trinh.txt", "text/plain", b"plain text " * 40))
    checked, _ = await CheckPool((), workers=1).check(raw, "legacy", NOW, scan=True)
    assert encoded(checked.packet) == encoded(run_checks(raw, "legacy", (), NOW)[0].packet)
    assert encoded(checked.packet) != [""]
