"""The legal and safety review of one checked packet, before it is stored (DESIGN step 6½).

After the edXML stages (which already refused disguised files, unsafe names, links,
executables in Office files, RAR and secret documents: ``edxml.content``,
``edxml.secrecy``), :meth:`LegalReview.review` does what needs I/O:

1. malware: every attachment and every file inside a zip attachment is streamed to clamd
   (``ATTACHMENT_MALWARE``; clamd unreachable: ``SCANNER_UNAVAILABLE`` or, with
   ``on_error = accept``, a warning);
2. PDF signatures: every PDF (also inside zips) is reported (``gateway.legal.pdf_signatures``);
   a system with ``pdf_signatures = require`` is refused ``PDF_SIGNATURE_REQUIRED`` unless
   at least one signature is ``valid``;
3. the packet signer (when its XML signature verified): revocation (``CERT_REVOKED``,
   ``REVOCATION_UNKNOWN`` under ``hard``) and, per system ``signer_binding``, whether the
   certificate belongs to the sending agency (``SIGNER_NOT_SENDER``, refusal or warning).

The result (:class:`LegalReport`) goes into the receipt, the trace and the inbox item.
Blocking work (decoding, pyhanko, OCSP/CRL fetches) runs in threads. The attachments are
decoded here only for the scan and the PDF report (``gateway.legal.contents``); the rest
of what is reported of them was summed up by the intake checks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from edxml.attachments import DecodedAttachment, decode_attachments
from edxml.content import sniff, zip_members
from edxml.errors import WARN_MACRO_ENABLED
from edxml.model import Envelope, StatusMessage
from edxml.safexml import safe_fromstring
from gateway.legal.contents import AttachmentFacts, attachment_facts, needs_contents
from gateway.legal.errors import (
    AttachmentMalware,
    CertificateRevoked,
    PdfSignatureRequired,
    RevocationUnknown,
    ScannerUnavailable,
    SignerNotSender,
)
from gateway.legal.pdf_signatures import VALID, DocumentTrust, PdfSignature, report_pdfs_sync
from gateway.legal.revocation import REVOKED, UNKNOWN, RevocationPolicy, check_certificate_sync
from gateway.legal.scanner import ClamdScanner, ScannerUnreachable

log = structlog.get_logger(__name__)
_DSIG_CERT = "{http://www.w3.org/2000/09/xmldsig#}X509Certificate"
WARN_SCAN_SKIPPED = "WARN_SCAN_SKIPPED"
WARN_SIGNER_REVOCATION_UNKNOWN = "WARN_SIGNER_REVOCATION_UNKNOWN"


@dataclass(frozen=True)
class SystemPolicy:
    """What one calling system asks of the documents it sends."""

    pdf_signatures: Literal["report", "require"] = "report"
    signer_binding: Literal["off", "warn", "require"] = "off"


@dataclass(frozen=True)
class LegalReport:
    """What the review found: one entry per attachment, warnings, the signer's revocation."""

    attachments: tuple[dict[str, Any], ...] = ()
    warnings: tuple[dict[str, str], ...] = ()
    signer_revocation: str | None = None


class AgencyLookup:
    """What the review needs of the directory: an agency's name and certificate prints."""

    def __init__(self, directory: Any) -> None:
        self._directory = directory

    def identity(self, code: str) -> tuple[str | None, tuple[str, ...]]:
        """The agency's name and SHA-256 certificate fingerprints (empty when unknown)."""
        agency = self._directory.get(code)
        if agency is None:
            return None, ()
        return agency.name, tuple(agency.certificates)


def _warning(code: str, vi: str, en: str, path: str = "") -> dict[str, str]:
    return {"code": code, "path": path, "message_vi": vi, "message_en": en}


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


@dataclass
class LegalReview:
    """The review, configured once per process (see :func:`gateway.legal.wiring`)."""

    document_trust: DocumentTrust = field(default_factory=DocumentTrust)
    packet_anchors: tuple[x509.Certificate, ...] = ()
    revocation: RevocationPolicy = field(default_factory=RevocationPolicy)
    scanner: ClamdScanner | None = None
    scan_on_error: Literal["refuse", "accept"] = "refuse"
    systems: Mapping[str, SystemPolicy] = field(default_factory=dict)

    async def review(
        self,
        raw: bytes,
        packet: Envelope | StatusMessage,
        signature_status: str,
        system_id: str,
        agencies: AgencyLookup | None,
        contents: Sequence[AttachmentFacts] | None = None,
    ) -> LegalReport:
        """Review one packet; return the report or raise the refusal (never stored then).

        ``contents``: the attachments summed up by the intake checks
        (``gateway.core.intake_checks.Checked.contents``); computed here when not given."""
        policy = self.systems.get(system_id, SystemPolicy())
        warnings: list[dict[str, str]] = []
        entries: list[dict[str, Any]] = []
        if isinstance(packet, Envelope):
            entries = await self._attachments(packet, policy, warnings, contents)
        revocation = None
        if signature_status == "verified":
            revocation = await self._signer(raw, packet, policy, agencies, warnings)
        return LegalReport(tuple(entries), tuple(warnings), revocation)

    # -- attachments ----------------------------------------------------------------------

    async def _attachments(
        self,
        packet: Envelope,
        policy: SystemPolicy,
        warnings: list[dict[str, str]],
        contents: Sequence[AttachmentFacts] | None,
    ) -> list[dict[str, Any]]:
        decoded: list[DecodedAttachment] | None = None
        if contents is None or len(contents) != len(packet.attachments):
            decoded = await asyncio.to_thread(decode_attachments, packet)
            contents = await asyncio.to_thread(attachment_facts, decoded)
        pdfs: list[tuple[str, bytes]] = []
        scanned = "clean" if self.scanner is not None else "not_scanned"
        if needs_contents(self.scanner is not None, contents):
            if decoded is None:
                decoded = await asyncio.to_thread(decode_attachments, packet)
                _same_attachments(decoded, contents)
            scanned = await self._scan(_files(decoded, pdfs), warnings)
        reports: list[PdfSignature] = []
        if pdfs:
            reports = await asyncio.to_thread(report_pdfs_sync, pdfs, self.document_trust)
        for fact in sorted((f for f in contents if f.macros), key=lambda f: f.label):
            warnings.append(
                _warning(
                    WARN_MACRO_ENABLED,
                    f"Tệp đính kèm {fact.label!r} là tài liệu Office có macro",
                    f"Attachment {fact.label!r} is a macro-enabled Office document",
                )
            )
        if policy.pdf_signatures == "require" and not any(r.status == VALID for r in reports):
            found = ", ".join(f"{r.file}: {r.status} ({r.reason})" for r in reports)
            raise PdfSignatureRequired(found or "no signed PDF attachment")
        return [
            {
                "content_id": fact.content_id,
                "name": fact.name,
                "content_type": fact.content_type,
                "detected_type": fact.detected_type,
                "size": fact.size,
                "sha256": fact.sha256,
                "macros": fact.macros,
                "scan": scanned,
                "pdf_signatures": [
                    r.as_dict()
                    for r in reports
                    if r.file == fact.label or r.file.startswith(f"{fact.label}!")
                ],
            }
            for fact in contents
        ]

    async def _scan(
        self, files: Iterator[tuple[str, bytes]], warnings: list[dict[str, str]]
    ) -> str:
        """Scan the files one at a time (a zip member is decompressed only when its turn
        comes, so memory holds one file, not the whole archive)."""
        scanning = self.scanner is not None
        try:
            while (found := await asyncio.to_thread(next, files, None)) is not None:
                if self.scanner is None:
                    continue  # still walk the files: the PDFs are collected on the way
                name, data = found
                result = await self.scanner.scan(name, data)
                if result.infected:
                    raise AttachmentMalware(f"{name}: {result.signature}")
        except ScannerUnreachable as exc:
            if self.scan_on_error == "refuse":
                raise ScannerUnavailable(str(exc)) from exc
            log.warning("malware scan skipped", error=str(exc))
            warnings.append(
                _warning(
                    WARN_SCAN_SKIPPED,
                    "Không quét được mã độc (dịch vụ quét không phản hồi); đã tiếp nhận",
                    "Malware scan skipped (scanner unreachable); accepted by policy",
                )
            )
            for _ in files:  # collect the remaining PDFs
                pass
            return "skipped"
        return "clean" if scanning else "not_scanned"

    # -- packet signer --------------------------------------------------------------------

    async def _signer(
        self,
        raw: bytes,
        packet: Envelope | StatusMessage,
        policy: SystemPolicy,
        agencies: AgencyLookup | None,
        warnings: list[dict[str, str]],
    ) -> str | None:
        need_revocation = self.revocation.mode != "off"
        if not need_revocation and policy.signer_binding == "off":
            return None
        certs = await asyncio.to_thread(_signature_certificates, raw)
        if not certs:
            return None
        leaf, others = _leaf(certs)
        state = None
        if need_revocation:
            state = await asyncio.to_thread(
                check_certificate_sync, leaf, others, self.packet_anchors, self.revocation
            )
            who = _cn(leaf) or leaf.subject.rfc4514_string()
            if state == REVOKED:
                raise CertificateRevoked(who, path="/edXML/Signature")
            if state == UNKNOWN and self.revocation.mode == "hard":
                raise RevocationUnknown(who, path="/edXML/Signature")
            if state == UNKNOWN:
                warnings.append(
                    _warning(
                        WARN_SIGNER_REVOCATION_UNKNOWN,
                        f"Không xác định được tình trạng thu hồi chứng thư của {who}",
                        f"Revocation status of {who}'s certificate is unknown",
                    )
                )
        if policy.signer_binding != "off" and agencies is not None:
            self._bind(leaf, packet.sender, policy, agencies, warnings)
        return state

    def _bind(
        self,
        leaf: x509.Certificate,
        sender: str,
        policy: SystemPolicy,
        agencies: AgencyLookup,
        warnings: list[dict[str, str]],
    ) -> None:
        name, prints = agencies.identity(sender)
        fingerprint = hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest()
        orgs = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if fingerprint in prints or (name and any(_fold(str(o)) == _fold(name) for o in orgs)):
            return
        detail = f"{sender} ({name or '?'}) ≠ {', '.join(map(str, orgs)) or _cn(leaf) or '?'}"
        if policy.signer_binding == "require":
            raise SignerNotSender(detail, path="/edXML/Signature")
        error = SignerNotSender(detail, path="/edXML/Signature")
        warnings.append(_warning(error.code, error.text_vi, error.text_en, error.path))


def _same_attachments(
    decoded: Sequence[DecodedAttachment], contents: Sequence[AttachmentFacts]
) -> None:
    """Fail loudly if the attachments to scan are not those the checks summed up (their
    content was dropped on the way back from a check worker that thought it unneeded)."""
    if [d.sha256 for d in decoded] != [f.sha256 for f in contents]:
        raise RuntimeError("legal review: attachment contents missing or changed after checks")


def _files(
    decoded: Sequence[DecodedAttachment], pdfs: list[tuple[str, bytes]]
) -> Iterator[tuple[str, bytes]]:
    """Every file to scan, lazily: each attachment, then the members of a zip one by one.
    The PDFs among them are appended to ``pdfs`` on the way (for the signature report)."""
    for item in decoded:
        label = item.name or item.content_id
        members = zip_members(item) if item.files else iter(())
        inside = ((f"{label}!{name}", data) for name, data in members)
        for name, data in itertools.chain([(label, item.data)], inside):
            if sniff(data[:1024]) == "pdf":
                pdfs.append((name, data))
            yield name, data


def _signature_certificates(raw: bytes) -> list[x509.Certificate]:
    root = safe_fromstring(raw)
    out = []
    for element in root.iter(_DSIG_CERT):
        text = "".join((element.text or "").split())
        try:
            out.append(x509.load_der_x509_certificate(base64.b64decode(text)))
        except ValueError:
            continue
    return out


def _leaf(certs: list[x509.Certificate]) -> tuple[x509.Certificate, list[x509.Certificate]]:
    issuers = {c.issuer for c in certs if c.issuer != c.subject}
    leaf = next((c for c in certs if c.subject not in issuers), certs[0])
    return leaf, [c for c in certs if c is not leaf]


def _cn(cert: x509.Certificate) -> str | None:
    found = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else None
