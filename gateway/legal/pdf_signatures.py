"""The signatures inside PDF attachments (PAdES), validated with pyhanko.

This is the signature that gives an electronic document its legal value (the packet's
XML signature only says who handed it to the axis). Every embedded signature is reported:

* ``invalid``: the digest of the signed bytes or the CMS signature does not verify, the
  signer's certificate is revoked, or the file was changed after signing in a way the
  signature does not allow;
* ``indeterminate``: the chain does not reach a configured *document* trust anchor
  (``[trust] document_anchors``), or (``revocation = hard``) revocation cannot be decided;
* ``valid`` otherwise.

``covers_whole_document`` is false when bytes were added after the signature (an
incremental update); ``revocation`` is good, revoked, unknown or not_checked. Validation
fetches OCSP/CRL (``gateway.legal.revocation``), so it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any

import structlog
from cryptography import x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator.errors import RevokedError

from gateway.legal.contents import may_carry_signature
from gateway.legal.revocation import (
    NOT_CHECKED,
    REVOKED,
    UNKNOWN,
    RevocationPolicy,
    revocation_outcome,
    validation_context,
)

log = structlog.get_logger(__name__)
VALID, INVALID, INDETERMINATE = "valid", "invalid", "indeterminate"


@dataclass(frozen=True)
class DocumentTrust:
    """Trust for document (PDF) signatures: anchors apart from the packet anchors."""

    anchors: tuple[x509.Certificate, ...] = ()
    revocation: RevocationPolicy = dataclass_field(default_factory=RevocationPolicy)


@dataclass(frozen=True)
class PdfSignature:
    """The report on one signature embedded in one PDF file."""

    file: str
    field: str
    status: str
    reason: str
    signer: str | None
    signer_organization: str | None
    signing_time: str | None
    covers_whole_document: bool
    revocation: str
    timestamp: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form (receipt, trace, inbox item, ``validate --json``)."""
        return asdict(self)


def _name_part(status: PdfSignatureStatus, key: str) -> str | None:
    value = status.signing_cert.subject.native.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _verdict(
    status: PdfSignatureStatus, revocation: str, policy: RevocationPolicy
) -> tuple[str, str]:
    if not status.intact:
        return INVALID, "the digest of the signed bytes does not match"
    if not status.valid:
        return INVALID, "the signature value does not verify"
    if revocation == REVOKED:
        return INVALID, "the signer's certificate is revoked"
    if status.docmdp_ok is False:
        return INVALID, "the document was changed after signing beyond what the signature allows"
    if status.validation_path is None or status.trust_problem_indic is not None:
        indic = status.trust_problem_indic
        if revocation == UNKNOWN:
            return INDETERMINATE, "the revocation status of the signer cannot be decided"
        why = f" ({indic.name})" if indic is not None else ""
        return INDETERMINATE, f"the chain does not reach a document trust anchor{why}"
    if revocation == UNKNOWN and policy.mode == "hard":
        return INDETERMINATE, "the revocation status of the signer cannot be decided"
    if revocation == UNKNOWN:
        return VALID, "signature verifies; revocation status unknown"
    return VALID, "signature verifies and its chain reaches a document trust anchor"


async def _one(embedded: Any, file: str, trust: DocumentTrust) -> PdfSignature:
    policy = trust.revocation
    context = validation_context(trust.anchors, policy, moment=datetime.now(UTC))
    field = str(embedded.field_name or "")
    try:
        status = await async_validate_pdf_signature(embedded, signer_validation_context=context)
    except RevokedError:  # pragma: no cover - pyhanko reports revocation in the status
        return PdfSignature(file, field, INVALID, "revoked", None, None, None, False, REVOKED, None)
    except Exception as exc:  # a malformed CMS blob, unsupported mechanism...
        return PdfSignature(
            file, field, INVALID, f"cannot validate: {exc}", None, None, None, False,
            NOT_CHECKED, None,
        )  # fmt: skip
    if status.revoked:
        revocation = REVOKED
    elif status.validation_path is None and not context.soft_fail_exceptions:
        revocation = UNKNOWN if _revinfo_problem(status) else NOT_CHECKED
    else:
        revocation = revocation_outcome(context, policy)
    state, reason = _verdict(status, revocation, policy)
    ts = status.timestamp_validity
    return PdfSignature(
        file=file,
        field=field,
        status=state,
        reason=reason,
        signer=_name_part(status, "common_name"),
        signer_organization=_name_part(status, "organization_name"),
        signing_time=_iso(status.signer_reported_dt),
        covers_whole_document=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        revocation=revocation,
        timestamp=_iso(ts.timestamp) if ts is not None else None,
    )


def _revinfo_problem(status: PdfSignatureStatus) -> bool:
    indic = status.trust_problem_indic
    return indic is not None and indic.name in {"TRY_LATER", "REVOCATION_OUT_OF_BOUNDS"}


async def report_pdf(data: bytes, trust: DocumentTrust, *, file: str) -> list[PdfSignature]:
    """Validate every signature embedded in the PDF ``data`` (none: an empty list)."""
    if not may_carry_signature(data):
        return []  # no signature dictionary: nothing for pyhanko to parse the file for
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        log.info("pdf attachment unreadable", file=file, error=str(exc))
        return []
    return [await _one(sig, file, trust) for sig in embedded]


def report_pdfs_sync(
    files: Sequence[tuple[str, bytes]], trust: DocumentTrust
) -> list[PdfSignature]:
    """Report every PDF of ``files`` (name, bytes), in a worker thread (its own loop)."""

    async def run() -> list[PdfSignature]:
        out: list[PdfSignature] = []
        for name, data in files:
            out.extend(await report_pdf(data, trust, file=name))
        return out

    return asyncio.run(run())
