"""The legal review for ``edoc-gateway validate`` (offline: no store, no directory)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509

from edxml.errors import Issue
from edxml.pipeline import CheckResult
from gateway.errors import GatewayError
from gateway.legal.pdf_signatures import DocumentTrust
from gateway.legal.review import LegalReview
from gateway.legal.revocation import RevocationMode, RevocationPolicy
from gateway.legal.scanner import ClamdScanner


def review_offline(
    raw: bytes,
    result: CheckResult,
    *,
    packet_anchors: Sequence[x509.Certificate],
    document_trust: Sequence[Path],
    scan: str | None,
    revocation: RevocationMode,
) -> tuple[list[dict[str, Any]], list[Issue], list[Issue]]:
    """Review a packet that passed the edXML checks: the attachments report, the warnings,
    and the refusal (at most one, as an :class:`Issue`)."""
    anchors: list[x509.Certificate] = []
    for path in document_trust:
        anchors.extend(x509.load_pem_x509_certificates(path.read_bytes()))
    policy = RevocationPolicy(revocation)
    review = LegalReview(
        document_trust=DocumentTrust(tuple(anchors), policy),
        packet_anchors=tuple(packet_anchors),
        revocation=policy,
        scanner=ClamdScanner(scan) if scan else None,
    )
    try:
        report = asyncio.run(
            review.review(raw, result.packet, result.verification.status, "cli", None)
        )
    except GatewayError as exc:
        return [], [], [Issue(exc.code, exc.text_vi, exc.text_en, exc.path)]
    warnings = [
        Issue(w["code"], w["message_vi"], w["message_en"], w["path"]) for w in report.warnings
    ]
    return list(report.attachments), warnings, []
