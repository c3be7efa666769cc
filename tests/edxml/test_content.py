"""Tests for edxml/content.py and edxml/secrecy.py: what attachments really are, secrecy."""

from __future__ import annotations

import base64
import io
import stat
import zipfile
from datetime import date

import pytest

from edxml.build import new_document
from edxml.content import detected_type, macro_files, sniff
from edxml.errors import (
    AttachmentExecutable,
    AttachmentNameUnsafe,
    AttachmentRarRefused,
    AttachmentSymlink,
    AttachmentTypeMismatch,
    SecretDocument,
)
from edxml.model import Attachment, Code, Organization, OtherInfo
from edxml.pipeline import stage_attachments, stage_rules
from edxml.secrecy import secrecy_degree

PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600


def zipped(entries: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return out.getvalue()


def envelope(name: str | None, ctype: str | None, data: bytes, other: OtherInfo | None = None):
    att = Attachment("cid:1", name, None, ctype, base64.b64encode(data).decode())
    return new_document(
        sender=Organization(organ_id="000.00.00.G22"),
        to=[Organization(organ_id="000.00.00.H41")],
        code=Code("1", "VPCP"),
        subject="Thử",
        promulgation_date=date(2026, 1, 5),
        attachments=[att],
        other_info=other,
    )


def check(name: str | None, ctype: str | None, data: bytes) -> None:
    stage_attachments(envelope(name, ctype, data))


def test_executable_named_pdf_is_a_type_mismatch() -> None:
    with pytest.raises(AttachmentTypeMismatch, match="Windows executable"):
        check("vanban.pdf", "application/pdf", PE)
    with pytest.raises(AttachmentTypeMismatch, match="ELF"):
        check("vanban.doc", "application/msword", b"\x7fELF\x02\x01\x01" + b"\x00" * 60)
    with pytest.raises(AttachmentTypeMismatch, match="script"):
        check("ghichu.txt", "text/plain", b"#!/bin/sh\nrm -rf /\n")


def test_disguised_archive_and_contradicting_declarations() -> None:
    with pytest.raises(AttachmentTypeMismatch, match="zip archive"):
        check("baocao.pdf", "application/pdf", zipped({"a.txt": b"x"}))
    with pytest.raises(AttachmentTypeMismatch):
        check("baocao.doc", "application/pdf", PDF)  # name and type disagree
    with pytest.raises(AttachmentTypeMismatch, match="PDF"):
        check("ghichu.txt", None, PDF)


def test_genuine_files_pass() -> None:
    check("qd.pdf", "application/pdf", PDF)
    check("cv.doc", "application/msword", OLE2)
    check("ghichu.txt", "text/plain", "Văn bản".encode())
    check("anh.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    docx = zipped({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    check("cv.docx", None, docx)
    # The wire wraps the named file in a zip declared application/zip (real samples).
    check("1896_QD-TTg.doc", "application/zip", zipped({"x.edxml": b"<?xml version='1.0'?>"}))


def test_members_of_a_declared_zip_are_held_to_their_names() -> None:
    with pytest.raises(AttachmentTypeMismatch, match=r"entry 'vanban\.pdf'"):
        check("hoso.zip", "application/zip", zipped({"vanban.pdf": PE}))
    with pytest.raises(AttachmentTypeMismatch, match=r"named \.pdf"):
        check("hoso.zip", "application/zip", zipped({"vanban.pdf": b"not a pdf"}))


def test_symbolic_link_entry_is_refused() -> None:
    data = zipped({"a.txt": b"x"}, links={"link.txt": "/etc/passwd"})
    with pytest.raises(AttachmentSymlink, match=r"link\.txt"):
        check("hoso.zip", "application/zip", data)


@pytest.mark.parametrize(
    "name", ["../../x.pdf", "/etc/x.pdf", "C:x.pdf", "a\\..\\b.pdf", "a/b.pdf"]
)
def test_attachment_name_with_a_path_is_refused(name: str) -> None:
    with pytest.raises(AttachmentNameUnsafe):
        check(name, "application/pdf", PDF)


def test_executable_inside_a_docx_is_refused() -> None:
    base = {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}
    with pytest.raises(AttachmentExecutable, match=r"payload\.bin"):
        check("cv.docx", None, zipped({**base, "word/embeddings/payload.bin": PE}))
    with pytest.raises(AttachmentExecutable, match=r"run\.exe"):
        check("cv.docx", None, zipped({**base, "word/run.exe": b"harmless bytes"}))


def test_rar_is_refused_explicitly() -> None:
    with pytest.raises(AttachmentRarRefused):
        check("hoso.rar", "application/vnd.rar", b"Rar!\x1a\x07\x00" + b"\x00" * 40)
    with pytest.raises(AttachmentRarRefused):  # disguised as a zip member name? still RAR
        check("hoso.zip", "application/zip", zipped({"x.txt": b"Rar!\x1a\x07\x00" + b"\x00" * 9}))


def test_macro_enabled_office_files_are_reported() -> None:
    base = {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}
    macro = zipped({**base, "word/vbaProject.bin": OLE2})
    vba_doc = OLE2 + "_VBA_PROJECT".encode("utf-16-le")
    decoded = stage_attachments(envelope("cv.docx", None, macro))
    decoded += stage_attachments(envelope("cv.doc", "application/msword", vba_doc))
    decoded += stage_attachments(envelope("plain.docx", None, zipped(base)))
    assert macro_files(decoded) == ["cv.docx", "cv.doc"]


def test_sniff_and_detected_type() -> None:
    assert sniff(PDF) == "pdf" and sniff(PE) == "pe" and sniff(b"hello") == "text"
    assert detected_type(PDF) == "application/pdf"


@pytest.mark.parametrize(
    ("value", "degree"),
    [
        ("Mật", "mật"),
        ("MẬT", "mật"),
        ("Độ mật: Tối mật", "tối mật"),
        ("Tuyệt mật", "tuyệt mật"),
        ("Tài liệu bí mật nhà nước", "bí mật nhà nước"),
        ("Lưu hành nội bộ", None),
        ("Liên thông văn bản quốc gia", None),
        ("Mật khẩu", None),
        (None, None),
    ],
)
def test_secrecy_degree(value: str | None, degree: str | None) -> None:
    assert secrecy_degree(value) == degree


def test_secret_document_is_refused_with_secret_document() -> None:
    packet = envelope("qd.pdf", "application/pdf", PDF, OtherInfo(sphere_of_promulgation="Mật"))
    with pytest.raises(SecretDocument) as info:
        stage_rules(packet, date(2026, 1, 6))
    assert info.value.code == "SECRET_DOCUMENT"
    assert info.value.path.endswith("OtherInfo/SphereOfPromulgation")
    internal = envelope(
        None, "application/pdf", PDF, OtherInfo(sphere_of_promulgation="Lưu hành nội bộ")
    )
    stage_rules(internal, date(2026, 1, 6))
