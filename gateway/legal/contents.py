"""What the legal review needs to know of the attachments, and whether it needs their bytes.

The intake checks run in worker processes (``gateway.core.intake_checks``) that already decode
every attachment. There :func:`attachment_facts` records what the review reports of each
one (digest, real type, macros) and whether it, or a file inside it, is a PDF that carries
a signature, so that the review reads the bytes themselves only for what cannot be summed
up: the malware scan and the report of PDF signatures. A PDF without the ``/ByteRange``
of a signature dictionary (:func:`may_carry_signature`) has nothing to report, so neither
its bytes travel back nor does pyhanko parse it. :func:`needs_contents` is the one place
that decides whether the attachments' base64 text travels back from the worker (pickling
it costs as much as the rest of the result). This module imports only ``edxml`` so that a
worker stays light.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from edxml.attachments import DecodedAttachment
from edxml.content import detected_type, macro_files, open_head, sniff

_SNIFF_BYTES = 1024  # what the review's PDF detection reads (``gateway.legal.review._files``)
_CHUNK = 1 << 16
# Every signature dictionary holds ``/ByteRange`` as a literal name in the file's own bytes:
# the signed byte ranges are offsets into the file, so the dictionary cannot sit in a
# compressed object stream. (A name spelled with ``#`` escapes is not recognised: such a
# signature goes unreported, and under ``pdf_signatures = require`` the packet is refused.)
SIGNATURE_MARKER = b"/ByteRange"


@dataclass(frozen=True)
class AttachmentFacts:
    """One decoded attachment as the review reports it; ``signed_pdf``: it or a file inside
    is a PDF that may carry a signature (see :func:`may_carry_signature`)."""

    content_id: str
    name: str | None
    content_type: str | None
    size: int
    sha256: str
    detected_type: str | None
    macros: bool
    signed_pdf: bool

    @property
    def label(self) -> str:
        """The name the review's findings use for this attachment."""
        return self.name or self.content_id


def attachment_facts(decoded: Sequence[DecodedAttachment]) -> tuple[AttachmentFacts, ...]:
    """Sum up decoded attachments (already checked by ``edxml.content``) for the review."""
    macros = set(macro_files(decoded))
    facts = []
    for item in decoded:
        head = open_head(item)
        label = item.name or item.content_id
        facts.append(
            AttachmentFacts(
                content_id=item.content_id,
                name=item.name,
                content_type=item.content_type,
                size=item.size,
                sha256=item.sha256,
                detected_type=detected_type(head),
                macros=label in macros,
                signed_pdf=_signed_pdf(item, head) or _holds_signed_pdf(item),
            )
        )
    return tuple(facts)


def needs_contents(scan: bool, facts: Sequence[AttachmentFacts]) -> bool:
    """Whether the review must read the attachments' bytes: to stream every file to the
    malware scanner (``scan``: a scanner is configured) or to report PDF signatures."""
    return scan or any(f.signed_pdf for f in facts)


def may_carry_signature(data: bytes) -> bool:
    """Whether PDF ``data`` may hold a signature (a cheap byte search before any parsing)."""
    return SIGNATURE_MARKER in data


def _signed_pdf(item: DecodedAttachment, head: bytes) -> bool:
    if sniff(head[:_SNIFF_BYTES]) != "pdf":
        return False
    with item.open() as stream:
        return _stream_has_marker(stream)


def _stream_has_marker(stream: IO[bytes], read: bytes = b"") -> bool:
    # Chunked, so that a large file is never held whole; ``read``: bytes already taken from
    # the stream. The kept tail finds a marker that straddles two chunks.
    window = read
    while True:
        if SIGNATURE_MARKER in window:
            return True
        chunk = stream.read(_CHUNK)
        if not chunk:
            return False
        window = window[-(len(SIGNATURE_MARKER) - 1) :] + chunk


def _holds_signed_pdf(item: DecodedAttachment) -> bool:
    # A member is decompressed past its head only when it is a PDF; ``item.files`` is set
    # for zip data only.
    if not item.files:
        return False
    try:
        with item.open() as stream, zipfile.ZipFile(stream) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                with archive.open(info) as member:
                    head = member.read(_SNIFF_BYTES)
                    if sniff(head) != "pdf":
                        continue
                    if _stream_has_marker(member, head):
                        return True
    except zipfile.BadZipFile:
        return False
    return False
