"""What attachments really are: magic bytes against the declared name and type, unsafe names,
links and executables inside archives, macro-enabled Office files. Pure: no I/O.

The decision uses a small table of magic numbers (:data:`_MAGIC`: executables, scripts,
archives, PDF, OLE2, RTF, images); puremagic names the detected type for the report
(:func:`detected_type`). Rules (SPEC §1, choice):

* An executable (PE, ELF, Mach-O) or a ``#!`` script is refused wherever it is found:
  ``ATTACHMENT_TYPE_MISMATCH`` as an attachment or a zip member, ``ATTACHMENT_EXECUTABLE``
  inside an Office/OpenDocument file (those are zips too), also when only its entry name
  says so (``.exe``, ``.dll``, ``.js``, ``.vbs``…).
* The real type must be one the declared type allows: a declared zip (content type or
  ``.zip``) must be a zip whatever its name says (the wire wraps ``x.doc`` in a zip declared
  ``application/zip``); otherwise the name's extension and the content type each allow a
  family (``.pdf``: PDF; ``.docx``: zip; ``.doc``: OLE2, RTF or zip; ``.txt``: no known
  binary magic...). Members of a declared zip are held to their own names the same way.
* RAR is refused (``ATTACHMENT_RAR_REFUSED``): the gateway cannot list or unpack it.
* Zip entries that are symbolic links are refused (``ATTACHMENT_SYMLINK``).
* An ``AttachmentName`` holding a path (separators, ``..``, a drive, control characters) is
  refused (``ATTACHMENT_NAME_UNSAFE``): recipients save files under that name.
* Macro-enabled Office files (``vbaProject.bin``, an OLE2 ``_VBA_PROJECT`` stream, ODF
  ``Basic/``) are reported (:func:`macro_files`), not refused.
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Iterator, Sequence

import puremagic

from .attachments import DecodedAttachment
from .errors import (
    AttachmentExecutable,
    AttachmentNameUnsafe,
    AttachmentRarRefused,
    AttachmentSymlink,
    AttachmentTypeMismatch,
)
from .model import Attachment, Envelope, StatusMessage

ATTACHMENTS_PATH = "/edXML/AttachmentEncoded/Attachment"
EXECUTABLES = frozenset({"pe", "elf", "macho", "script"})
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "pe"),
    (b"\x7fELF", "elf"),
    (b"\xfe\xed\xfa\xce", "macho"),
    (b"\xfe\xed\xfa\xcf", "macho"),
    (b"\xce\xfa\xed\xfe", "macho"),
    (b"\xcf\xfa\xed\xfe", "macho"),
    (b"\xca\xfe\xba\xbe", "macho"),
    (b"#!", "script"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"Rar!\x1a\x07", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x1f\x8b", "gzip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2"),
    (b"{\\rtf", "rtf"),
    (b"\x89PNG\r\n\x1a\n", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF87a", "image"),
    (b"GIF89a", "image"),
    (b"BM", "image"),
    (b"II*\x00", "image"),
    (b"MM\x00*", "image"),
)
_DESCRIPTION = {
    "pe": "a Windows executable (PE)",
    "elf": "an ELF executable",
    "macho": "a Mach-O executable",
    "script": "a script (#!)",
    "zip": "a zip archive",
    "rar": "a RAR archive",
    "7z": "a 7-Zip archive",
    "gzip": "a gzip archive",
    "ole2": "an OLE2 (legacy Office) file",
    "rtf": "an RTF document",
    "image": "an image",
    "pdf": "a PDF document",
    "text": "text or unknown data",
}
_EXT_FAMILIES: dict[str, frozenset[str]] = {
    "pdf": frozenset({"pdf"}),
    "docx": frozenset({"zip"}),
    "xlsx": frozenset({"zip"}),
    "odt": frozenset({"zip"}),
    "ods": frozenset({"zip"}),
    "zip": frozenset({"zip"}),
    "doc": frozenset({"ole2", "rtf", "zip"}),
    "xls": frozenset({"ole2", "zip"}),
    "rtf": frozenset({"rtf"}),
    "rar": frozenset({"rar"}),
    "txt": frozenset({"text"}),
    "csv": frozenset({"text"}),
    "xml": frozenset({"text"}),
    "edxml": frozenset({"text"}),
    **{e: frozenset({"image"}) for e in ("jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff")},
    "webp": frozenset({"image", "text"}),  # RIFF container: not in the table above
}
_TYPE_FAMILIES: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({"pdf"}),
    "application/zip": frozenset({"zip"}),
    "application/x-zip-compressed": frozenset({"zip"}),
    "application/msword": frozenset({"ole2", "rtf", "zip"}),
    "application/vnd.ms-excel": frozenset({"ole2", "zip"}),
    "application/rtf": frozenset({"rtf"}),
    "text/rtf": frozenset({"rtf"}),
    "text/plain": frozenset({"text"}),
    "text/csv": frozenset({"text"}),
    "application/vnd.rar": frozenset({"rar"}),
    "application/x-rar-compressed": frozenset({"rar"}),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": frozenset({"zip"}),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": frozenset({"zip"}),
    "application/vnd.oasis.opendocument.text": frozenset({"zip"}),
    "application/vnd.oasis.opendocument.spreadsheet": frozenset({"zip"}),
}
_ARCHIVE_TYPES = frozenset({"application/zip", "application/x-zip-compressed"})
_EXECUTABLE_NAMES = frozenset(
    {"exe", "dll", "com", "scr", "pif", "cpl", "msi", "bat", "cmd", "ps1", "vbs", "vbe", "js"}
    | {"jse", "wsf", "hta", "jar", "sh", "lnk", "elf", "so", "dylib", "app"}
)
_UNSAFE_NAME = re.compile(r"[\\/\x00-\x1f]|^[A-Za-z]:|(^|[\\/])\.\.([\\/]|$)")
_HEAD = 8192


def sniff(head: bytes) -> str:
    """Return the family of data starting with ``head`` (``text`` when no magic matches)."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    for magic, family in _MAGIC:
        if head.startswith(magic):
            return family
    return "pdf" if b"%PDF-" in head[:1024] else "text"  # readers allow junk before it


def detected_type(head: bytes) -> str | None:
    """The MIME type puremagic names for ``head`` (best match), for reports."""
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return None
    for match in matches:
        if match.mime_type:
            return str(match.mime_type)
    return None


def check_contents(packet: Envelope | StatusMessage, decoded: Sequence[DecodedAttachment]) -> None:
    """Refuse attachments whose names, real types or archive entries are unsafe (see above)."""
    if not isinstance(packet, Envelope):
        return
    for i, (att, item) in enumerate(zip(packet.attachments, decoded, strict=True), start=1):
        path = f"{ATTACHMENTS_PATH}[{i}]"
        check_name(att, path=f"{path}/AttachmentName")
        with item.open() as stream:
            head = stream.read(_HEAD)
        real = sniff(head)
        declared = _declared_families(item.name, item.content_type)
        label = f"{item.name or item.content_id!r}"
        if real in EXECUTABLES:
            raise AttachmentTypeMismatch(f"{label} is {_DESCRIPTION[real]}", path=path)
        if real == "rar" or (declared is not None and "rar" in declared):
            raise AttachmentRarRefused(label, path=path)
        if declared is not None and real not in declared:
            raise AttachmentTypeMismatch(
                f"{label} is declared {_declared_text(item)} but is {_DESCRIPTION[real]}",
                path=path,
            )
        if real == "zip":
            _check_zip(item, path, archive=_media(item.content_type) in _ARCHIVE_TYPES
                       or _extension(item.name) == "zip")  # fmt: skip


def check_name(att: Attachment, *, path: str = "") -> None:
    """Refuse an ``AttachmentName`` that is a path rather than a file name."""
    name = att.attachment_name
    if name and (_UNSAFE_NAME.search(name) or name.strip() in {".", ".."}):
        raise AttachmentNameUnsafe(repr(name), path=path)


def zip_members(item: DecodedAttachment) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) of every file inside a zip attachment (already size-checked)."""
    with item.open() as stream, zipfile.ZipFile(stream) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                yield info.filename, archive.read(info)


def macro_files(decoded: Sequence[DecodedAttachment]) -> list[str]:
    """Names of the attachments that are macro-enabled Office documents."""
    found = []
    for item in decoded:
        with item.open() as stream:
            head = stream.read(_HEAD)
            real = sniff(head)
            if real == "ole2":
                stream.seek(0)
                if _VBA_STREAM in stream.read():
                    found.append(item.name or item.content_id)
            elif real == "zip" and _zip_has_macros(item):
                found.append(item.name or item.content_id)
    return found


_VBA_STREAM = "_VBA_PROJECT".encode("utf-16-le")


def _zip_has_macros(item: DecodedAttachment) -> bool:
    try:
        with item.open() as stream, zipfile.ZipFile(stream) as archive:
            names = [n.lower() for n in archive.namelist()]
    except zipfile.BadZipFile:
        return False
    return any(n.endswith("vbaproject.bin") or n.startswith("basic/") for n in names)


def _check_zip(item: DecodedAttachment, path: str, *, archive: bool) -> None:
    with item.open() as stream, zipfile.ZipFile(stream) as zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            if info.create_system == 3 and stat.S_ISLNK(mode):
                raise AttachmentSymlink(f"entry {info.filename!r}", path=path)
            if info.is_dir():
                continue
            with zf.open(info) as member:
                real = sniff(member.read(_HEAD))
            ext = _extension(info.filename)
            label = f"{item.name or item.content_id!r} entry {info.filename!r}"
            if not archive and (real in EXECUTABLES or ext in _EXECUTABLE_NAMES):
                raise AttachmentExecutable(label, path=path)
            if real in EXECUTABLES:
                raise AttachmentTypeMismatch(f"{label} is {_DESCRIPTION[real]}", path=path)
            if archive and real == "rar":
                raise AttachmentRarRefused(label, path=path)
            allowed = _EXT_FAMILIES.get(ext or "")
            if archive and allowed is not None and real not in allowed:
                raise AttachmentTypeMismatch(
                    f"{label} is named .{ext} but is {_DESCRIPTION[real]}", path=path
                )


def _declared_families(name: str | None, content_type: str | None) -> frozenset[str] | None:
    media = _media(content_type)
    if media in _ARCHIVE_TYPES:
        return frozenset({"zip"})  # the wire wraps the named file in a zip
    families: frozenset[str] | None = None
    for found in (_EXT_FAMILIES.get(_extension(name) or ""), _TYPE_FAMILIES.get(media or "")):
        if found is not None:
            families = found if families is None else families & found
    return families  # None: nothing declared; empty: name and type contradict each other


def _declared_text(item: DecodedAttachment) -> str:
    return " / ".join(v for v in (item.name, item.content_type) if v)


def _media(content_type: str | None) -> str | None:
    if not content_type or not content_type.strip():
        return None
    return content_type.split(";", 1)[0].strip().lower()


def _extension(name: str | None) -> str | None:
    if not name:
        return None
    base = re.split(r"[\\/]", name.strip())[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base.strip(".") else None


def open_head(item: DecodedAttachment) -> bytes:
    """The first bytes of a decoded attachment (enough for :func:`sniff`)."""
    with item.open() as stream:
        return stream.read(_HEAD)


__all__ = [
    "EXECUTABLES",
    "check_contents",
    "check_name",
    "detected_type",
    "macro_files",
    "open_head",
    "sniff",
    "zip_members",
]
