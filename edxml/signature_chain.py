"""The signer's certificates: read from ``KeyInfo``, the leaf found, and the path to a
trust anchor validated (validity dates, key usage, CA constraints) with ``cryptography``.

Verified paths are cached: path validation depends only on the certificates, the anchors and
the time (no revocation source is configured here).
"""

from __future__ import annotations

import binascii
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from cryptography import x509
from cryptography.x509 import verification as xv
from lxml import etree

from .errors import CertificateExpired, CertificateUntrusted, SignatureInvalid
from .signature_profile import DSIG, SIGNATURE_PATH

_KEY_INFO = SIGNATURE_PATH + "/KeyInfo"


def certificates(sig: etree._Element) -> list[x509.Certificate]:
    """Return the certificates of ``KeyInfo/X509Data``; ``SignatureInvalid`` when there are
    none or one cannot be read."""
    texts = [
        el.text or ""
        for el in sig.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", {"ds": DSIG})
    ]
    if not texts:
        raise SignatureInvalid("no X509Certificate in KeyInfo", path=_KEY_INFO)
    try:
        return [_load_certificate(_b64(text)) for text in texts]
    except Exception as exc:
        raise SignatureInvalid(f"unreadable X509Certificate: {exc}", path=_KEY_INFO) from exc


@lru_cache(maxsize=512)
def _load_certificate(der: bytes) -> x509.Certificate:
    # Senders reuse their certificates: parse each DER once per process.
    cert = x509.load_der_x509_certificate(der)
    subject(cert)  # cryptography parses lazily: force every field used later now
    cert.public_key()
    return cert


def _b64(text: str) -> bytes:
    return binascii.a2b_base64("".join(text.split()), strict_mode=True)


def leaf(certs: list[x509.Certificate]) -> x509.Certificate:
    """Return the signer's certificate: the one that issued none of the others."""
    # X509Data has no order (XML-DSig 1.1 §4.5.4): the leaf is the one that issued nothing.
    leaves = [c for c in certs if not any(o is not c and o.issuer == c.subject for o in certs)]
    if len(leaves) != 1:
        raise SignatureInvalid("X509Data does not form a single chain", path=_KEY_INFO)
    return leaves[0]


@lru_cache(maxsize=256)
def subject(cert: x509.Certificate) -> str:
    """The certificate's subject in RFC 4514 form."""
    # Certificates hash and compare by their DER bytes; RFC 4514 rendering is slow-ish.
    return cert.subject.rfc4514_string()


def _require_digital_signature(
    policy: xv.Policy, cert: x509.Certificate, usage: x509.KeyUsage | None
) -> None:
    if usage is None or not usage.digital_signature:
        raise ValueError("certificate KeyUsage does not allow digitalSignature")


_EE_POLICY = xv.ExtensionPolicy.permit_all().require_present(
    x509.KeyUsage, xv.Criticality.AGNOSTIC, _require_digital_signature
)
_CA_POLICY = xv.ExtensionPolicy.webpki_defaults_ca()


def check_chain(
    leaf: x509.Certificate,
    certs: list[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    when: datetime,
) -> tuple[str, ...]:
    """Return the subjects of the validated path from ``leaf`` to one of ``anchors``.

    Raises ``CertificateExpired`` when a certificate is not valid at ``when``,
    ``CertificateUntrusted`` when no path to an anchor validates.
    """
    for cert in certs:
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            raise CertificateExpired(
                f"{cert.subject.rfc4514_string()} valid {cert.not_valid_before_utc:%Y-%m-%d}"
                f"–{cert.not_valid_after_utc:%Y-%m-%d}, checked at {when:%Y-%m-%d %H:%M}Z",
                path=_KEY_INFO,
            )
    if not anchors:
        raise CertificateUntrusted("no trust anchors configured", path=_KEY_INFO)
    key = (leaf, tuple(certs), tuple(anchors))
    cached = _chain_cache_get(key, when)
    if cached is not None:
        return cached
    try:
        verifier = (
            xv.PolicyBuilder()
            .store(xv.Store(list(anchors)))
            .time(when)
            .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
            .build_client_verifier()
        )
        verified = verifier.verify(leaf, [c for c in certs if c is not leaf])
    except Exception as exc:  # VerificationError and malformed-certificate errors alike
        raise CertificateUntrusted(
            f"{leaf.subject.rfc4514_string()}: {exc}", path=_KEY_INFO
        ) from exc
    chain = tuple(subject(c) for c in verified.chain)
    _chain_cache_put(key, verified.chain, chain)
    return chain


# A verified path is reused while the time stays inside every certificate's validity window,
# for at most _CHAIN_CACHE_S of wall time.
_CHAIN_CACHE_S = 300.0
_CHAIN_CACHE_MAX = 1024
_chain_cache: dict[tuple[object, ...], tuple[float, datetime, datetime, tuple[str, ...]]] = {}
_chain_lock = threading.Lock()


def _chain_cache_get(key: tuple[object, ...], when: datetime) -> tuple[str, ...] | None:
    with _chain_lock:
        entry = _chain_cache.get(key)
    if entry is None:
        return None
    stored_at, valid_from, valid_until, chain = entry
    if time.monotonic() - stored_at > _CHAIN_CACHE_S or not valid_from <= when <= valid_until:
        return None
    return chain


def _chain_cache_put(
    key: tuple[object, ...], path: Sequence[x509.Certificate], chain: tuple[str, ...]
) -> None:
    valid_from = max(c.not_valid_before_utc for c in path)
    valid_until = min(c.not_valid_after_utc for c in path)
    with _chain_lock:
        if len(_chain_cache) >= _CHAIN_CACHE_MAX:
            _chain_cache.clear()
        _chain_cache[key] = (time.monotonic(), valid_from, valid_until, chain)
