"""Certificate revocation through pyhanko-certvalidator: OCSP and CRL, fetched over HTTP.

One policy, ``[trust] revocation``, for packet (XML-DSig) and PDF signatures:

* ``off``: nothing is fetched; the answer is ``not_checked``.
* ``soft``: OCSP responders and CRL distribution points named in the certificates are asked;
  a revoked certificate is ``revoked``, one for which no answer could be had is ``unknown``
  (reported, not refused).
* ``hard``: like ``soft``, but ``unknown`` is a refusal (packet) or ``indeterminate`` (PDF).

The fetches are blocking (requests), made in the thread that runs the validation, never on
the gateway's event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InsufficientRevinfoError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

RevocationMode = Literal["off", "soft", "hard"]
GOOD, REVOKED, UNKNOWN, NOT_CHECKED = "good", "revoked", "unknown", "not_checked"


@dataclass(frozen=True)
class RevocationPolicy:
    """How revocation is checked: mode and the time allowed for each OCSP/CRL request."""

    mode: RevocationMode = "soft"
    timeout_s: float = 5.0


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    """Convert a ``cryptography`` certificate to the asn1crypto form pyhanko uses."""
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def validation_context(
    anchors: Sequence[x509.Certificate],
    policy: RevocationPolicy,
    *,
    others: Sequence[x509.Certificate] = (),
    moment: datetime | None = None,
) -> ValidationContext:
    """A pyhanko validation context trusting ``anchors`` and fetching revocation per policy."""
    fetching = policy.mode != "off"
    return ValidationContext(
        trust_roots=[to_asn1(a) for a in anchors],
        other_certs=[to_asn1(c) for c in others],
        moment=moment,
        allow_fetching=fetching,
        revocation_mode="hard-fail" if policy.mode == "hard" else "soft-fail",
        fetcher_backend=RequestsFetcherBackend(per_request_timeout=policy.timeout_s)
        if fetching
        else None,
    )


def revocation_outcome(context: ValidationContext, policy: RevocationPolicy) -> str:
    """After a successful validation: ``good`` when OCSP/CRL answers were had and used,
    ``unknown`` when a fetch failed (soft mode) or nothing was published, else
    ``not_checked`` (revocation off)."""
    if policy.mode == "off":
        return NOT_CHECKED
    if context.soft_fail_exceptions:
        return UNKNOWN
    if context.ocsps or context.crls:
        return GOOD
    return UNKNOWN


async def check_certificate(
    cert: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    policy: RevocationPolicy,
    *,
    moment: datetime | None = None,
) -> str:
    """Return the revocation state of ``cert`` (good, revoked, unknown, not_checked).

    The chain itself was checked by the caller; a chain pyhanko cannot build to ``anchors``
    gives ``unknown`` (nothing can be said of its revocation).
    """
    if policy.mode == "off":
        return NOT_CHECKED
    context = validation_context(anchors, policy, others=intermediates, moment=moment)
    validator = CertificateValidator(to_asn1(cert), validation_context=context)
    try:
        await validator.async_validate_usage(set())
    except RevokedError:
        return REVOKED
    except (InsufficientRevinfoError, PathBuildingError, PathValidationError):
        return UNKNOWN
    return revocation_outcome(context, policy)


def declares_revocation(cert: x509.Certificate) -> bool:
    """Whether ``cert`` names an OCSP responder or a CRL distribution point."""
    try:
        aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
        if any(d.access_method == AuthorityInformationAccessOID.OCSP for d in aia.value):
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS)
    except x509.ExtensionNotFound:
        return False
    return True


# A packet signer signs many packets: its answer is kept a few minutes (OCSP responses
# are typically valid for hours), so the responder is not asked once per packet.
CACHE_TTL_S = 300.0
_cache: dict[tuple[bytes, str], tuple[float, str]] = {}
_cache_lock = threading.Lock()


def check_certificate_sync(
    cert: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    policy: RevocationPolicy,
) -> str:
    """:func:`check_certificate` for a worker thread (runs its own event loop).

    A certificate that names no OCSP responder and no CRL is ``unknown`` without asking
    anyone; ``good`` and ``revoked`` answers are cached for :data:`CACHE_TTL_S` seconds.
    """
    if policy.mode == "off":
        return NOT_CHECKED
    if not declares_revocation(cert):
        return UNKNOWN
    key = (cert.fingerprint(hashes.SHA256()), policy.mode)
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    state = asyncio.run(
        check_certificate(cert, intermediates, anchors, policy, moment=datetime.now(UTC))
    )
    if state in (GOOD, REVOKED):
        with _cache_lock:
            if len(_cache) > 10_000:
                _cache.clear()
            _cache[key] = (now + CACHE_TTL_S, state)
    return state
