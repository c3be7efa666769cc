"""Hostile edXML attachments: zip bombs, path traversal, disallowed types, bad Base64 and
manifest mismatches are refused with their own stable code and the attachment's path.
"""

from __future__ import annotations

import io
import zipfile

from lxml import etree

from tests.security.edxml_forge import NS, edit, refused, with_attachment


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def test_zip_bomb(sample: bytes) -> None:
    bomb = _zip({"a.txt": b"\0" * (30 * 2**20)})
    err = refused(
        with_attachment(sample, bomb, "a.zip", "application/zip"),
        "ATTACHMENT_BOMB",
        policy="legacy",
    )
    assert err.path == "/edXML/AttachmentEncoded/Attachment[1]"


def test_zip_path_traversal(sample: bytes) -> None:
    evil = _zip({"../../../../etc/cron.d/x.txt": b"* * * * * root sh"})
    err = refused(
        with_attachment(sample, evil, "a.zip", "application/zip"),
        "ATTACHMENT_PATH",
        policy="legacy",
    )
    assert "etc/cron.d" in err.detail


def test_disallowed_file_type(sample: bytes) -> None:
    err = refused(
        with_attachment(sample, b"MZ\x90\x00", "setup.exe", "application/pdf"),
        "ATTACHMENT_TYPE",
        policy="legacy",
    )
    assert err.path.endswith("/AttachmentName")


def test_disallowed_entry_in_declared_archive(sample: bytes) -> None:
    data = _zip({"bao-cao.pdf": b"%PDF", "run.bat": b"format c:"})
    refused(
        with_attachment(sample, data, "ho-so.zip", "application/zip"),
        "ATTACHMENT_TYPE",
        policy="legacy",
    )


def test_bad_base64(sample: bytes) -> None:
    def change(root: etree._Element) -> None:
        root.find(f".//{NS}ContentTransferEncoded").text = "not*base64*at*all"

    refused(edit(sample, change), "ATTACHMENT_INVALID", policy="legacy")


def test_manifest_reference_without_attachment(sample: bytes) -> None:
    def change(root: etree._Element) -> None:
        root.find(f".//{NS}edXMLManifest/{NS}Reference/{NS}ContentId").text = "cid:999"

    refused(edit(sample, change), "MANIFEST_MISMATCH", policy="legacy")
