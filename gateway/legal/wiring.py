"""Builds the legal review and the scanner's readiness check from the settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from cryptography import x509

from gateway.config import Settings
from gateway.credentials.registry import CallingSystems, SystemPolicies, as_registry
from gateway.legal.pdf_signatures import DocumentTrust
from gateway.legal.review import AgencyLookup, LegalReview, SystemPolicy
from gateway.legal.revocation import RevocationPolicy
from gateway.legal.scanner import ClamdScanner, ScannerUnreachable
from gateway.ops.health import Check, CheckFailed


def load_document_anchors(settings: Settings) -> tuple[x509.Certificate, ...]:
    """Read ``[trust] document_anchors`` (PEM files, several certificates each allowed)."""
    found: list[x509.Certificate] = []
    for path in settings.trust.document_anchors:
        found.extend(x509.load_pem_x509_certificates(path.read_bytes()))
    return tuple(found)


def review_from_settings(
    settings: Settings,
    packet_anchors: Sequence[x509.Certificate],
    systems: CallingSystems | None = None,
) -> LegalReview:
    """The review for this process: document trust, revocation, scanner, system policies."""
    revocation = RevocationPolicy(settings.trust.revocation, settings.trust.revocation_timeout_s)
    scan = settings.scan
    return LegalReview(
        document_trust=DocumentTrust(load_document_anchors(settings), revocation),
        packet_anchors=tuple(packet_anchors),
        revocation=revocation,
        scanner=ClamdScanner(scan.clamd, timeout_s=scan.timeout_s) if scan.clamd else None,
        scan_on_error=scan.on_error,
        # Per-system policies follow the registry of calling systems (live) when given.
        systems=SystemPolicies(
            systems if systems is not None else as_registry(settings.systems),
            lambda s: SystemPolicy(s.pdf_signatures, s.signer_binding),
        ),
    )


async def apply_review(
    review: LegalReview, raw: bytes, checked: Any, system_id: str, directory: Any
) -> Any:
    """Review a checked packet (``gateway.core.intake_checks.Checked``); return it with the
    report attached (``legal``) and the review's warnings added, or raise the refusal."""
    report = await review.review(
        raw,
        checked.packet,
        checked.verification.status,
        system_id,
        AgencyLookup(directory),
        checked.contents,
    )
    return dataclasses.replace(
        checked, legal=report, warnings=(*checked.warnings, *report.warnings)
    )


def scanner_check(settings: Settings) -> Check | None:
    """The ``/readyz`` check of clamd (PING and VERSION), or ``None`` without a scanner."""
    if not settings.scan.clamd:
        return None
    scanner = ClamdScanner(settings.scan.clamd, timeout_s=2.0)

    async def probe() -> str:
        try:
            return await scanner.ping()
        except ScannerUnreachable as exc:
            raise CheckFailed(str(exc)) from exc

    return Check("scanner", probe, 3.0)
