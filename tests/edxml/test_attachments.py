"""Tests for edxml/attachments.py: decoding, type allow-list, zip limits, manifest matching."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest

from edxml import attachments as attachments_module
from edxml.attachments import (
    AttachmentLimits,
    check_manifest,
    decode_attachments,
    decode_base64,
    inspect_zip,
)
from edxml.errors import (
    AttachmentBomb,
    AttachmentInvalid,
    AttachmentPath,
    AttachmentType,
    ManifestMismatch,
)
from edxml.model import Attachment, Envelope, ManifestReference, MessageHeader, Organization
from edxml.parse import parse

# Observed on the real packets and checked by hand against `base64 -d | sha256sum` and
# `unzip -l`; the zipped .edxml of the VPCP sample is byte-identical to the malformed template.
REAL_ATTACHMENTS = {
    "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml": (
        4151,
        "913d275321151c3408eda5544d2f15c5919666636d57701bd57852f1b34a7c6d",
        ("7a71a0ee-2f35-400d-aca9-811d478eb158.edxml", 8381),
    ),
    "vpcp-sample-edoc_new.edxml": (
        270823,
        "7ab7c43a02a3cf2cedd14ebf2545a37e7a1307e0091b4ba94c2ef1e842a763aa",
        ("32da2890-1a55-4ccd-9ac9-cd0d98559e67.edxml", 388347),
    ),
    "bkav-edoc_new.edxml": (
        270823,
        "7ab7c43a02a3cf2cedd14ebf2545a37e7a1307e0091b4ba94c2ef1e842a763aa",
        ("32da2890-1a55-4ccd-9ac9-cd0d98559e67.edxml", 388347),
    ),
    "bkav-edoc_update.edxml": (
        270823,
        "51653b9613f7f0275b43f80704033299740c702f354f44a06f55770cfbb0b135",
        ("3ed3cc90-1dcb-4382-9725-1de9cd899790.edxml", 388347),
    ),
}
INNER_EDXML_SHA256 = "8385739ec4a4ed36d71eabcaead629641ffc5ffff3d487ff5c34d2f821c9f36e"


def envelope(*attachments: Attachment, manifest: tuple[str, ...] | None = None) -> Envelope:
    """A minimal document carrying ``attachments``, referenced by ``manifest`` content ids."""
    ids = manifest if manifest is not None else tuple(a.content_id for a in attachments)
    return Envelope(
        header=MessageHeader(
            from_=Organization("000.00.00.G22"), to=(Organization("000.00.00.H41"),)
        ),
        manifest=tuple(ManifestReference(cid) for cid in ids),
        attachments=attachments,
    )


def attachment(
    data: bytes,
    name: str | None = "van-ban.pdf",
    content_type: str | None = "application/pdf",
    cid: str = "cid:1",
) -> Attachment:
    return Attachment(
        content_id=cid,
        attachment_name=name,
        content_type=content_type,
        encoded=base64.b64encode(data).decode(),
    )


def zip_bytes(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(REAL_ATTACHMENTS))
def test_real_packet_attachments(real_dir: Path, name: str) -> None:
    size, sha256, (inner_name, inner_size) = REAL_ATTACHMENTS[name]
    packet = parse((real_dir / name).read_bytes())
    check_manifest(packet)
    (decoded,) = decode_attachments(packet)
    assert decoded.content_id == "cid:209"
    assert decoded.name == "1896_QD-TTg_m_294779.doc"
    assert decoded.content_type == "application/zip"
    assert decoded.size == size == len(decoded.data)
    assert decoded.sha256 == sha256
    assert [(f.name, f.size) for f in decoded.files] == [(inner_name, inner_size)]


def test_zipped_file_of_the_vpcp_sample_is_the_template(
    real_dir: Path, malformed_dir: Path
) -> None:
    packet = parse(
        (real_dir / "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml").read_bytes()
    )
    (decoded,) = decode_attachments(packet)
    template = (malformed_dir / "vpcp-template-edoc.edxml").read_bytes()
    assert decoded.files[0].sha256 == hashlib.sha256(template).hexdigest()


def test_big_zips_carry_the_same_inner_file(real_dir: Path) -> None:
    packet = parse((real_dir / "bkav-edoc_update.edxml").read_bytes())
    (decoded,) = decode_attachments(packet)
    assert decoded.files[0].sha256 == INNER_EDXML_SHA256


def test_status_message_has_no_attachments(real_dir: Path) -> None:
    status = parse((real_dir / "bkav-status_processing_05.edxml").read_bytes())
    assert decode_attachments(status) == []
    check_manifest(status)


def test_plain_pdf_attachment() -> None:
    data = b"%PDF-1.7\n" + bytes(range(256)) * 10
    (decoded,) = decode_attachments(envelope(attachment(data)))
    assert decoded.data == data
    assert decoded.size == len(data)
    assert decoded.sha256 == hashlib.sha256(data).hexdigest()
    assert decoded.files == ()


def test_base64_with_line_breaks_is_accepted() -> None:
    text = base64.encodebytes(b"x" * 500).decode()  # MIME style, 76-char lines
    assert "\n" in text
    assert decode_base64(text) == b"x" * 500


@pytest.mark.parametrize("bad", ["!!!notbase64!!!", "QUJD=RA==", "QUJDR"])
def test_invalid_base64(bad: str) -> None:
    att = Attachment("cid:1", attachment_name="a.pdf", content_type="application/pdf", encoded=bad)
    with pytest.raises(AttachmentInvalid) as info:
        decode_attachments(envelope(att))
    assert info.value.path == "/edXML/AttachmentEncoded/Attachment[1]/ContentTransferEncoded"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("setup.exe", "application/pdf"),
        ("report.pdf", "application/x-msdownload"),
        ("script.js", None),
        (None, "text/html"),
        (None, "application/octet-stream"),
        ("no-extension", None),
    ],
)
def test_disallowed_types(name: str | None, content_type: str | None) -> None:
    with pytest.raises(AttachmentType):
        decode_attachments(envelope(attachment(b"data", name, content_type)))


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("QD.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("scan.JPG", "image/jpeg"),
        ("bang.ods", "application/octet-stream"),
        ("to-trinh.pdf", "Application/PDF; name=to-trinh.pdf"),
        ("bao-cao.rar", None),
        (None, "text/csv"),
    ],
)
def test_allowed_types(name: str | None, content_type: str | None) -> None:
    (decoded,) = decode_attachments(envelope(attachment(b"data", name, content_type)))
    assert decoded.size == 4


def test_zip_entries_are_listed_with_digests() -> None:
    files = {"a.pdf": b"%PDF" * 100, "dir/b.docx": b"PK-not-really" * 3}
    data = zip_bytes(files)
    (decoded,) = decode_attachments(envelope(attachment(data, "ho-so.zip", "application/zip")))
    assert [(f.name, f.size, f.sha256) for f in decoded.files] == [
        (n, len(c), hashlib.sha256(c).hexdigest()) for n, c in files.items()
    ]


def test_zip_entry_of_disallowed_type() -> None:
    data = zip_bytes({"readme.txt": b"hi", "payload.exe": b"MZ"})
    with pytest.raises(AttachmentType) as info:
        decode_attachments(envelope(attachment(data, "ho-so.zip", "application/zip")))
    assert "payload.exe" in info.value.detail


def test_office_container_entries_are_not_type_checked() -> None:
    data = zip_bytes({"word/document.xml": b"<w/>", "[Content_Types].xml": b"<t/>"})
    mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    (decoded,) = decode_attachments(envelope(attachment(data, "QD.docx", mime)))
    assert len(decoded.files) == 2


@pytest.mark.parametrize(
    "entry", ["../../etc/passwd.txt", "/etc/x.txt", "C:/x.txt", "a\\..\\b.txt"]
)
def test_zip_path_traversal(entry: str) -> None:
    data = zip_bytes({entry: b"x"})
    with pytest.raises(AttachmentPath) as info:
        decode_attachments(envelope(attachment(data, "a.zip", "application/zip")))
    assert info.value.path == "/edXML/AttachmentEncoded/Attachment[1]"


def test_zip_bomb_by_ratio() -> None:
    data = zip_bytes({"zeros.txt": b"\0" * (20 * 2**20)})
    assert len(data) < 50_000
    with pytest.raises(AttachmentBomb):
        decode_attachments(envelope(attachment(data, "a.zip", "application/zip")))


def test_zip_bomb_by_total_size() -> None:
    data = zip_bytes({"a.txt": bytes(range(256)) * 4096}, method=zipfile.ZIP_STORED)
    limits = AttachmentLimits(max_decompressed_bytes=100_000)
    with pytest.raises(AttachmentBomb):
        inspect_zip(data, limits)


def test_zip_with_too_many_entries() -> None:
    data = zip_bytes({f"f{i}.txt": b"" for i in range(30)})
    with pytest.raises(AttachmentBomb):
        inspect_zip(data, AttachmentLimits(max_entries=20))
    assert len(inspect_zip(data, AttachmentLimits(max_entries=30))) == 30


def test_zip_that_lies_about_its_size() -> None:
    data = bytearray(zip_bytes({"a.txt": b"A" * 5000}, method=zipfile.ZIP_DEFLATED))
    # Shrink the declared size in the central directory: the reader must not trust it.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    with pytest.raises((AttachmentInvalid, AttachmentBomb)):
        inspect_zip(bytes(data))


def test_broken_zip() -> None:
    data = zip_bytes({"a.txt": b"hello" * 100})[:-30]
    with pytest.raises(AttachmentInvalid):
        decode_attachments(envelope(attachment(data, "a.zip", "application/zip")))


def test_manifest_matches() -> None:
    env = envelope(attachment(b"1", cid="cid:1"), attachment(b"2", cid="cid:2"))
    check_manifest(env)


@pytest.mark.parametrize(
    ("attachment_ids", "manifest", "path"),
    [
        (
            ("cid:1",),
            ("cid:1", "cid:2"),
            "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference[2]/ContentId",
        ),
        (("cid:1", "cid:2"), ("cid:1",), "/edXML/AttachmentEncoded/Attachment[2]/ContentId"),
        (
            ("cid:1",),
            ("cid:1", "cid:1"),
            "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference[2]/ContentId",
        ),
        (("cid:1", "cid:1"), ("cid:1",), "/edXML/AttachmentEncoded/Attachment[2]/ContentId"),
        ((), ("cid:9",), "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference[1]/ContentId"),
    ],
)
def test_manifest_mismatch(
    attachment_ids: tuple[str, ...], manifest: tuple[str, ...], path: str
) -> None:
    env = envelope(*(attachment(b"x", cid=c) for c in attachment_ids), manifest=manifest)
    with pytest.raises(ManifestMismatch) as info:
        check_manifest(env)
    assert info.value.path == path
    assert info.value.message_vi and info.value.message_en


# ------------------------------------------------------------------------------------------
# Big attachments are scanned piece by piece and decoded lazily from the packet's text


@pytest.fixture
def lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every attachment over 1,000 base64 characters take the lazy path."""
    monkeypatch.setattr(attachments_module, "LAZY_THRESHOLD", 1000)


def test_lazy_attachment_matches_eager_decoding(lazy: None) -> None:
    files = {f"van-ban-{i}.pdf": os.urandom(3000 + i) for i in range(5)}
    data = zip_bytes(files, method=zipfile.ZIP_STORED)
    att = attachment(data, "ho-so.zip", "application/zip")
    (decoded,) = decode_attachments(envelope(att))
    assert isinstance(decoded.source, str)  # kept as text, not decoded
    assert decoded.size == len(data)
    assert decoded.sha256 == hashlib.sha256(data).hexdigest()
    assert decoded.data == data
    with decoded.open() as stream:
        assert stream.read(10) == data[:10]
        stream.seek(len(data) - 7)
        assert stream.read() == data[-7:]
        stream.seek(12345)
        assert stream.read(1001) == data[12345:13346]
    assert [(f.name, f.size, f.sha256) for f in decoded.files] == [
        (n, len(c), hashlib.sha256(c).hexdigest()) for n, c in files.items()
    ]


@pytest.mark.parametrize("extra", [b"", b"x", b"xy"])
def test_lazy_attachment_with_padding(lazy: None, extra: bytes) -> None:
    data = os.urandom(3000) + extra
    (decoded,) = decode_attachments(envelope(attachment(data)))
    assert isinstance(decoded.source, str)
    assert (decoded.size, decoded.data) == (len(data), data)


def test_lazy_zip_bomb_and_traversal(lazy: None) -> None:
    bomb = zip_bytes({"zeros.txt": b"\0" * (20 * 2**20)})
    with pytest.raises(AttachmentBomb):
        decode_attachments(envelope(attachment(bomb, "a.zip", "application/zip")))
    evil = zip_bytes({"../x.txt": os.urandom(2000)})
    with pytest.raises(AttachmentPath):
        decode_attachments(envelope(attachment(evil, "a.zip", "application/zip")))


def test_lazy_path_falls_back_for_line_breaks_and_refuses_garbage(lazy: None) -> None:
    data = os.urandom(5000)
    wrapped = attachment(data)
    wrapped = dataclasses.replace(wrapped, encoded=base64.encodebytes(data).decode())
    (decoded,) = decode_attachments(envelope(wrapped))
    assert decoded.data == data and isinstance(decoded.source, bytes)
    text = base64.b64encode(data).decode()
    broken = dataclasses.replace(wrapped, encoded=text[:4000] + "*" + text[4001:])
    with pytest.raises(AttachmentInvalid):
        decode_attachments(envelope(broken))


def test_real_size_lazy_attachment() -> None:
    data = os.urandom(7 * 2**20)  # > LAZY_THRESHOLD once encoded
    (decoded,) = decode_attachments(envelope(attachment(data)))
    assert isinstance(decoded.source, str)
    assert decoded.sha256 == hashlib.sha256(data).hexdigest()
    assert decoded.data == data
