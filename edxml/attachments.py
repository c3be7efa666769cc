"""Attachments of a document packet: base64 decoding, type allow-list, zip limits, manifest.

* The base64 text (``edXML:ContentTransferEncoded``) is decoded without copying it first
  (``binascii`` reads the ASCII ``str`` in place); whitespace is tolerated, anything else that
  is not base64 is :class:`~edxml.errors.AttachmentInvalid`.
* Types (SPEC §1): an attachment's name extension and its declared content type must both be
  on the allow-list when present (``application/octet-stream`` says nothing and is allowed
  when the name is). Anything in zip format (also .docx/.xlsx/.odt…) is inspected: entry
  count, total decompressed size and ratio (counted while reading, not trusted from the
  headers), entry names (``..``, absolute, drive letters). The entries of a *declared*
  archive (content type zip or a ``.zip`` name) must also have allowed extensions; the wire
  wraps edXML/XML files in zips, so ``xml`` and ``edxml`` are allowed there. Nested archives
  are listed, not opened.
* :func:`check_manifest`: every manifest ``Reference`` has exactly one ``Attachment`` with its
  ``ContentId`` and every attachment is referenced once.
"""

from __future__ import annotations

import binascii
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import NamedTuple

from .errors import (
    AttachmentBomb,
    AttachmentInvalid,
    AttachmentPath,
    AttachmentType,
    ManifestMismatch,
)
from .model import Attachment, Envelope, StatusMessage

ALLOWED_EXTENSIONS = frozenset(
    {"txt", "rtf", "doc", "docx", "odt", "csv", "xls", "xlsx", "ods", "pdf", "zip", "rar"}
    | {"jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp"}
)
ARCHIVE_ENTRY_EXTENSIONS = ALLOWED_EXTENSIONS | {"xml", "edxml"}
ALLOWED_CONTENT_TYPES = frozenset(
    {
        "text/plain",
        "text/rtf",
        "application/rtf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.oasis.opendocument.text",
        "text/csv",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/pdf",
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/bmp",
        "image/tiff",
        "image/webp",
        "application/zip",
        "application/x-zip-compressed",
        "application/vnd.rar",
        "application/x-rar-compressed",
        "application/octet-stream",
    }
)
_ARCHIVE_TYPES = frozenset({"application/zip", "application/x-zip-compressed"})
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 20
ATTACHMENTS_PATH = "/edXML/AttachmentEncoded/Attachment"
MANIFEST_PATH = "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference"


@dataclass(frozen=True)
class AttachmentLimits:
    """Limits on decoded attachments and the zip archives inside them."""

    max_attachments: int = 200
    max_entries: int = 1000
    max_decompressed_bytes: int = 512 * 2**20
    max_ratio: float = 100.0
    allowed_extensions: frozenset[str] = ALLOWED_EXTENSIONS
    allowed_content_types: frozenset[str] = ALLOWED_CONTENT_TYPES
    archive_entry_extensions: frozenset[str] = ARCHIVE_ENTRY_EXTENSIONS


DEFAULT_ATTACHMENT_LIMITS = AttachmentLimits()


class ArchiveEntry(NamedTuple):
    """One file inside a zip attachment."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class DecodedAttachment:
    """A decoded attachment: its bytes, digest and, for zip-format data, the files inside."""

    content_id: str
    name: str | None
    content_type: str | None
    size: int
    sha256: str
    data: bytes = field(repr=False)
    files: tuple[ArchiveEntry, ...] = ()


def decode_attachments(
    envelope: Envelope | StatusMessage,
    limits: AttachmentLimits = DEFAULT_ATTACHMENT_LIMITS,
) -> list[DecodedAttachment]:
    """Decode and inspect every attachment of ``envelope`` (a status message has none).

    Raises :class:`AttachmentType`, :class:`AttachmentInvalid`, :class:`AttachmentBomb` or
    :class:`AttachmentPath` with the path of the offending ``Attachment``.
    """
    if not isinstance(envelope, Envelope):
        return []
    if len(envelope.attachments) > limits.max_attachments:
        raise AttachmentBomb(
            f"{len(envelope.attachments)} attachments > {limits.max_attachments}",
            path=ATTACHMENTS_PATH,
        )
    return [
        decode_attachment(att, limits, path=f"{ATTACHMENTS_PATH}[{i}]")
        for i, att in enumerate(envelope.attachments, start=1)
    ]


def decode_attachment(
    att: Attachment,
    limits: AttachmentLimits = DEFAULT_ATTACHMENT_LIMITS,
    *,
    path: str = ATTACHMENTS_PATH,
) -> DecodedAttachment:
    """Check the type of one attachment, decode it and inspect it if it is a zip."""
    content_type = check_type(att, limits, path=path)
    data = decode_base64(att.encoded, path=f"{path}/ContentTransferEncoded")
    files: tuple[ArchiveEntry, ...] = ()
    if data[:4] in _ZIP_MAGIC:
        declared_archive = (
            content_type in _ARCHIVE_TYPES or _extension(att.attachment_name) == "zip"
        )
        files = inspect_zip(data, limits, path=path, check_entry_types=declared_archive)
    return DecodedAttachment(
        content_id=att.content_id,
        name=att.attachment_name,
        content_type=att.content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        files=files,
    )


def check_type(
    att: Attachment, limits: AttachmentLimits = DEFAULT_ATTACHMENT_LIMITS, *, path: str = ""
) -> str | None:
    """Refuse an attachment whose name extension or content type is not allowed.

    Returns the normalised content type (lower case, parameters dropped) or ``None``.
    """
    content_type = _media_type(att.content_type)
    ext = _extension(att.attachment_name)
    if ext is not None and ext not in limits.allowed_extensions:
        raise AttachmentType(f"file extension .{ext}", path=f"{path}/AttachmentName")
    if content_type is not None and content_type not in limits.allowed_content_types:
        raise AttachmentType(f"content type {content_type}", path=f"{path}/ContentType")
    if ext is None and content_type in (None, "application/octet-stream"):
        raise AttachmentType("neither a file extension nor a content type", path=path)
    return content_type


def decode_base64(encoded: str, *, path: str = "") -> bytes:
    """Decode base64 text; whitespace (line breaks) is allowed, other stray characters not."""
    try:
        return binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return binascii.a2b_base64("".join(encoded.split()), strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise AttachmentInvalid(f"not valid base64: {exc}", path=path) from exc


def inspect_zip(
    data: bytes,
    limits: AttachmentLimits = DEFAULT_ATTACHMENT_LIMITS,
    *,
    path: str = "",
    check_entry_types: bool = True,
) -> tuple[ArchiveEntry, ...]:
    """List a zip archive's files with size and SHA-256, enforcing the archive limits.

    Sizes are counted while decompressing (headers can lie), so a bomb is stopped as soon as
    it passes the total size or ratio limit.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise AttachmentInvalid(f"broken zip archive: {exc}", path=path) from exc
    if len(infos) > limits.max_entries:
        raise AttachmentBomb(f"{len(infos)} entries > {limits.max_entries}", path=path)
    budget = min(limits.max_decompressed_bytes, int(max(len(data), 1) * limits.max_ratio))
    total = 0
    entries: list[ArchiveEntry] = []
    with archive:
        for info in infos:
            _check_entry_name(info.filename, path)
            if info.is_dir():
                continue
            ext = _extension(info.filename)
            if check_entry_types and (ext is None or ext not in limits.archive_entry_extensions):
                raise AttachmentType(f"archive entry {info.filename!r}", path=path)
            if info.flag_bits & 0x1:
                raise AttachmentInvalid(f"encrypted entry {info.filename!r}", path=path)
            digest = hashlib.sha256()
            size = 0
            try:
                with archive.open(info) as stream:
                    while chunk := stream.read(_CHUNK):
                        size += len(chunk)
                        total += len(chunk)
                        if total > budget:
                            raise AttachmentBomb(
                                f"decompressed size passes {budget} bytes "
                                f"(archive {len(data)} bytes, ratio limit {limits.max_ratio:g}, "
                                f"total limit {limits.max_decompressed_bytes})",
                                path=path,
                            )
                        digest.update(chunk)
            except AttachmentBomb:
                raise
            except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError) as exc:
                raise AttachmentInvalid(f"entry {info.filename!r}: {exc}", path=path) from exc
            except Exception as exc:  # zlib.error, lzma/bz2 errors: all mean a broken entry
                raise AttachmentInvalid(f"entry {info.filename!r}: {exc}", path=path) from exc
            entries.append(ArchiveEntry(info.filename, size, digest.hexdigest()))
    return tuple(entries)


def check_manifest(envelope: Envelope | StatusMessage) -> None:
    """Refuse a document whose manifest and attachments do not match one to one by ContentId."""
    if not isinstance(envelope, Envelope):
        return
    attached: dict[str, int] = {}
    for i, att in enumerate(envelope.attachments, start=1):
        if att.content_id in attached:
            raise ManifestMismatch(
                f"two attachments with ContentId {att.content_id!r}",
                path=f"{ATTACHMENTS_PATH}[{i}]/ContentId",
            )
        attached[att.content_id] = i
    referenced: set[str] = set()
    for i, ref in enumerate(envelope.manifest, start=1):
        where = f"{MANIFEST_PATH}[{i}]/ContentId"
        if ref.content_id in referenced:
            raise ManifestMismatch(f"ContentId {ref.content_id!r} referenced twice", path=where)
        if ref.content_id not in attached:
            raise ManifestMismatch(f"no attachment with ContentId {ref.content_id!r}", path=where)
        referenced.add(ref.content_id)
    for content_id, i in attached.items():
        if content_id not in referenced:
            raise ManifestMismatch(
                f"attachment {content_id!r} is not in the manifest",
                path=f"{ATTACHMENTS_PATH}[{i}]/ContentId",
            )


def _check_entry_name(name: str, path: str) -> None:
    parts = re.split(r"[\\/]", name)
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts or "\x00" in name:
        raise AttachmentPath(f"archive entry {name!r}", path=path)


def _media_type(content_type: str | None) -> str | None:
    if content_type is None or not content_type.strip():
        return None
    return content_type.split(";", 1)[0].strip().lower()


def _extension(name: str | None) -> str | None:
    if not name:
        return None
    base = re.split(r"[\\/]", name.strip())[-1]
    if "." not in base.strip("."):
        return None
    return base.rsplit(".", 1)[-1].lower() or None
