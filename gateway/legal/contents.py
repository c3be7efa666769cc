"""What the legal review needs to know of the attachments, and whether it needs their bytes.

The intake checks run in worker processes (``gateway.core.intake_checks``) that already decode
every attachment. There :func:`attachment_facts` records what the review reports of each
one (digest, real type, macros) and whether it, or a file inside it, is a PDF, so that
the review reads the bytes themselves only for what cannot be summed up: the malware scan
and the PDF signature report. :func:`needs_contents` is the one place that decides whether
the attachments' base64 text travels back from the worker (pickling it costs as much as the
rest of the result). This module imports only ``edxml`` so that a worker stays light.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from edxml.attachments import DecodedAttachment
from edxml.content import detected_type, macro_files, open_head, sniff

_SNIFF_BYTES = 1024  # what the review's PDF detection reads (``gateway.legal.review._files``)


@dataclass(frozen=True)
class AttachmentFacts:
    """One decoded attachment as the review reports it; ``pdf``: it or a file inside is a PDF."""

    content_id: str
    name: str | None
    content_type: str | None
    size: int
    sha256: str
    detected_type: str | None
    macros: bool
    pdf: bool

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
                pdf=sniff(head[:_SNIFF_BYTES]) == "pdf" or _holds_pdf(item),
            )
        )
    return tuple(facts)


def needs_contents(scan: bool, facts: Sequence[AttachmentFacts]) -> bool:
    """Whether the review must read the attachments' bytes: to stream every file to the
    malware scanner (``scan``: a scanner is configured) or to report PDF signatures."""
    return scan or any(f.pdf for f in facts)


def _holds_pdf(item: DecodedAttachment) -> bool:
    # Only the head of each member is decompressed; ``item.files`` is set for zip data only.
    if not item.files:
        return False
    try:
        with item.open() as stream, zipfile.ZipFile(stream) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                with archive.open(info) as member:
                    if sniff(member.read(_SNIFF_BYTES)) == "pdf":
                        return True
    except zipfile.BadZipFile:
        return False
    return False
