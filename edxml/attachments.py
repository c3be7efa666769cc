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
import dataclasses
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

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
    """A decoded attachment: size, digest and, for zip-format data, the files inside.

    ``data`` gives the decoded bytes. A big attachment (base64 text over
    :data:`LAZY_THRESHOLD` characters without line breaks) keeps only the packet's base64
    text and decodes it on each access to ``data`` (keep the result), so that checking a
    100 MB packet does not also hold its decoded copy; ``open()`` streams it instead.
    """

    content_id: str
    name: str | None
    content_type: str | None
    size: int
    sha256: str
    files: tuple[ArchiveEntry, ...] = ()
    source: bytes | str = field(default=b"", repr=False, compare=False)

    @property
    def data(self) -> bytes:
        """The decoded bytes."""
        if isinstance(self.source, bytes):
            return self.source
        return binascii.a2b_base64(self.source, strict_mode=True)

    def open(self) -> BinaryIO:
        """A seekable binary stream of the decoded bytes (decoded piece by piece)."""
        if isinstance(self.source, bytes):
            return io.BytesIO(self.source)
        return io.BufferedReader(_Base64File(self.source, self.size), _CHUNK)


LAZY_THRESHOLD = 8 * 2**20


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
    text = att.encoded
    where = f"{path}/ContentTransferEncoded"
    scanned = _scan_base64(text) if len(text) > LAZY_THRESHOLD else None
    source: bytes | str
    if scanned is not None:
        source = text
        size, sha256, head = scanned
    else:
        source = decode_base64(text, path=where)
        size, sha256, head = len(source), hashlib.sha256(source).hexdigest(), source[:4]
    decoded = DecodedAttachment(
        content_id=att.content_id,
        name=att.attachment_name,
        content_type=att.content_type,
        size=size,
        sha256=sha256,
        source=source,
    )
    if head in _ZIP_MAGIC:
        declared = content_type in _ARCHIVE_TYPES or _extension(att.attachment_name) == "zip"
        with decoded.open() as stream:
            files = inspect_zip(stream, limits, path=path, check_entry_types=declared, size=size)
        decoded = dataclasses.replace(decoded, files=files)
    return decoded


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
    data: bytes | BinaryIO,
    limits: AttachmentLimits = DEFAULT_ATTACHMENT_LIMITS,
    *,
    path: str = "",
    check_entry_types: bool = True,
    size: int | None = None,
) -> tuple[ArchiveEntry, ...]:
    """List a zip archive's files with size and SHA-256, enforcing the archive limits.

    ``data`` is the archive's bytes or a seekable stream of them (then pass its ``size``).
    Sizes are counted while decompressing (headers can lie), so a bomb is stopped as soon as
    it passes the total size or ratio limit.
    """
    if isinstance(data, bytes | bytearray):
        size, data = len(data), io.BytesIO(data)
    assert size is not None, "size is required with a stream"
    try:
        archive = zipfile.ZipFile(data)
        infos = archive.infolist()
    except Exception as exc:  # BadZipFile, NotImplementedError, UnicodeDecodeError, struct.error…
        raise AttachmentInvalid(f"broken zip archive: {exc}", path=path) from exc
    if len(infos) > limits.max_entries:
        raise AttachmentBomb(f"{len(infos)} entries > {limits.max_entries}", path=path)
    budget = min(limits.max_decompressed_bytes, int(max(size, 1) * limits.max_ratio))
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
                                f"(archive {size} bytes, ratio limit {limits.max_ratio:g}, "
                                f"total limit {limits.max_decompressed_bytes})",
                                path=path,
                            )
                        digest.update(chunk)
            except AttachmentBomb:
                raise
            except Exception as exc:  # BadZipFile, zlib/lzma/bz2 errors: all mean a broken entry
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


def _scan_base64(text: str) -> tuple[int, str, bytes] | None:
    """Decode strict (whitespace-free) base64 piece by piece: size, SHA-256, first bytes.

    Returns ``None`` when ``text`` is not strict base64 (line breaks, stray characters): the
    caller then decodes it in one piece, which also reports the error.
    """
    if len(text) % 4:
        return None
    digest = hashlib.sha256()
    size = 0
    head = b""
    step = 4 * _CHUNK  # a multiple of 4 characters
    try:
        for start in range(0, len(text), step):
            piece = binascii.a2b_base64(text[start : start + step], strict_mode=True)
            if not head:
                head = piece[:4]
            digest.update(piece)
            size += len(piece)
    except (binascii.Error, ValueError):
        return None
    return size, digest.hexdigest(), head


class _Base64File(io.RawIOBase):
    """Seekable read-only view of the bytes that whitespace-free base64 text decodes to."""

    def __init__(self, text: str, size: int) -> None:
        super().__init__()
        self._text = text
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._size - self._pos)
        if count <= 0:
            return 0
        first, last = self._pos // 3, (self._pos + count + 2) // 3
        piece = binascii.a2b_base64(self._text[first * 4 : last * 4], strict_mode=True)
        skip = self._pos - first * 3
        chunk = piece[skip : skip + count]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


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
