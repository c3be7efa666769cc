"""W3C XML-DSig signatures on edXML packets: sign, and verify under a partner policy (SPEC §5).

Profile (this project's choice):

* enveloped signature over the whole document (one ``Reference URI=""`` with the
  enveloped-signature and exclusive C14N transforms), SHA-256 digest, RSA-SHA256 or
  ECDSA-SHA256, ``KeyInfo/X509Data`` carrying the signer's certificate and its intermediates;
* the ``ds:Signature`` element is the **last child of** ``edXML:edXMLHeader``, the place the
  wire uses for its (edXML-namespace) ``Signature``. ``xmlsec1`` signs and verifies it there
  without options because the reference is the whole document. The verifier accepts no other
  place: a signature anywhere else, or a second one, is signature wrapping.

Only what the signature covers is trusted: the model in :class:`Verification` is built from
``signxml``'s ``VerifyResult.signed_xml`` (the canonical bytes that were digested, re-parsed),
never from the received tree. Comments and processing instructions are not covered by
exclusive C14N, so a signed packet that contains any is refused as wrapping.

Wire-legacy signatures (unprefixed ``Signature`` in the edXML namespace, placeholder values)
and SHA-1 or weak-key XML-DSig signatures are never "verified": ``legacy`` accepts them as
``unverified-legacy`` with a :data:`~edxml.errors.WARN_SIGNATURE_UNVERIFIED` warning,
``strict`` refuses them. A present XML-DSig signature that does not verify is refused under
every policy except ``off``.

This module holds the entry points and the verdict; the parts are the profile
(:mod:`edxml.signature_profile`), the wrapping defences (:mod:`edxml.signature_wrapping`),
the certificates and their chain (:mod:`edxml.signature_chain`) and the calls to signxml
(:mod:`edxml.signature_signxml`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from cryptography import x509
from lxml import etree

from .errors import (
    WARN_SIGNATURE_UNVERIFIED,
    EdxmlError,
    Issue,
    SignatureAbsent,
    SignatureInvalid,
    SignatureWeak,
    SignatureWrapping,
)
from .model import Envelope, SignatureInfo, StatusMessage
from .parse import packet_from_element
from .safexml import DEFAULT_LIMITS, Limits, safe_fromstring
from .signature_chain import certificates, check_chain, leaf, subject
from .signature_profile import (
    ALGORITHMS,
    DS_SIGNATURE_TAG,
    DSIG,
    ENVELOPE_TAG,
    ENVELOPED,
    EXC_C14N,
    LEGACY_SIGNATURE_TAG,
    MIN_EC_BITS,
    MIN_RSA_BITS,
    SIGNATURE_PATH,
    PrivateKey,
    method_name,
    weakness,
)
from .signature_signxml import sign_tree, verified_content
from .signature_wrapping import check_placement, check_signed_info, header

__all__ = [
    "ALGORITHMS",
    "DSIG",
    "ENVELOPED",
    "EXC_C14N",
    "MIN_EC_BITS",
    "MIN_RSA_BITS",
    "SIGNATURE_PATH",
    "Policy",
    "PrivateKey",
    "Verification",
    "sign",
    "verify",
    "verify_root",
]


class Policy(StrEnum):
    """What a partner's packets must carry: a verified signature, anything, or nothing checked."""

    STRICT = "strict"
    LEGACY = "legacy"
    OFF = "off"


@dataclass(frozen=True)
class Verification:
    """Verdict on a packet's signature and the model built from what the verdict covers.

    ``status`` is one of ``verified``, ``unverified-legacy``, ``invalid``, ``absent``,
    ``not-checked``; :func:`verify` returns the first, second and last (it raises instead of
    returning ``invalid``; ``absent`` is for reports made by callers that caught the error).
    ``root`` is the element ``packet`` was built from: the signed XML when verified.
    """

    status: str
    packet: Envelope | StatusMessage
    root: etree._Element
    signer: str | None = None
    chain: tuple[str, ...] = ()
    algorithm: str | None = None
    warnings: tuple[Issue, ...] = ()


def sign(
    data: bytes,
    key: PrivateKey,
    cert_chain: Sequence[x509.Certificate],
    *,
    algorithm: str = "rsa-sha256",
) -> bytes:
    """Return ``data`` with an enveloped XML-DSig signature as last child of ``edXMLHeader``.

    ``key`` is an already-loaded private key (load it once: PEM loading costs ~50 ms);
    ``cert_chain`` starts with the signer's certificate, followed by intermediates. Any
    existing signature in the header (wire placeholder or XML-DSig) is replaced.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}; use one of {sorted(ALGORITHMS)}")
    if not cert_chain:
        raise ValueError("cert_chain must hold at least the signer's certificate")
    root = safe_fromstring(data)
    place = header(root)
    for old in [*place.iterchildren(LEGACY_SIGNATURE_TAG, DS_SIGNATURE_TAG)]:
        place.remove(old)
    etree.SubElement(place, DS_SIGNATURE_TAG, Id="placeholder", nsmap={"ds": DSIG})
    signed = sign_tree(root, key, cert_chain, ALGORITHMS[algorithm])
    out: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    return out


def verify(
    data: bytes,
    policy: Policy | str,
    trust_anchors: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Verification:
    """Parse ``data`` safely and judge its signature under ``policy`` (see the module doc).

    Raises :class:`SignatureAbsent`, :class:`SignatureWeak` (strict only),
    :class:`SignatureInvalid`, :class:`SignatureWrapping`, :class:`CertificateUntrusted`,
    :class:`CertificateExpired`, or the parse errors of :mod:`edxml.parse`.
    """
    return verify_root(safe_fromstring(data, limits), policy, trust_anchors, now=now)


def verify_root(
    root: etree._Element,
    policy: Policy | str,
    trust_anchors: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
) -> Verification:
    """Like :func:`verify` on a tree already returned by ``safe_fromstring`` (no re-parse)."""
    policy = Policy(policy)
    try:
        return _verify_root(root, policy, trust_anchors, now)
    except EdxmlError:
        raise
    except Exception as exc:  # the one boundary for cryptography/lxml/signxml surprises
        raise SignatureInvalid(f"{type(exc).__name__}: {exc}", path=SIGNATURE_PATH) from exc


def _verify_root(
    root: etree._Element,
    policy: Policy,
    trust_anchors: Sequence[x509.Certificate],
    now: datetime | None,
) -> Verification:
    if policy is Policy.OFF:
        return Verification("not-checked", packet_from_element(root), root)
    signatures = list(root.iter(DS_SIGNATURE_TAG))
    if not signatures:
        return _unsigned(root, policy)
    check_placement(root, signatures)
    sig = signatures[0]
    method, digests = check_signed_info(sig)
    certs = certificates(sig)
    signer_cert = leaf(certs)
    when = (now or datetime.now(UTC)).astimezone(UTC)
    weak = weakness(method, digests, signer_cert)
    if weak and policy is Policy.STRICT:
        raise SignatureWeak(weak, path=SIGNATURE_PATH)
    chain: tuple[str, ...] = ()
    if not weak:
        chain = check_chain(signer_cert, certs, trust_anchors, when)
    signed = verified_content(root, signer_cert, method, digests, when)
    if signed is None or signed.tag != root.tag or len(signed.findall(ENVELOPE_TAG)) != 1:
        raise SignatureWrapping("the signed content is not one edXML packet", path="/edXML")
    packet = packet_from_element(signed)
    signer = subject(signer_cert)
    name = method_name(method)
    c14n = sig.find(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}CanonicalizationMethod")
    packet = dataclasses.replace(
        packet,
        signature=SignatureInfo(
            namespace=DSIG,
            signature_method=method.value,
            canonicalization_method=None if c14n is None else c14n.get("Algorithm"),
            subject_name=signer,
        ),
    )
    if weak:
        warning = _unverified_warning(f"signature not counted as verified: {weak}")
        return Verification("unverified-legacy", packet, signed, signer, (), name, (warning,))
    return Verification("verified", packet, signed, signer, chain, name)


def _unsigned(root: etree._Element, policy: Policy) -> Verification:
    legacy = next(root.iter(LEGACY_SIGNATURE_TAG), None)
    what = (
        "only an edXML-namespace Signature (not W3C XML-DSig, not verifiable)"
        if legacy is not None
        else "no XML-DSig Signature"
    )
    if policy is Policy.STRICT:
        raise SignatureAbsent(what, path=SIGNATURE_PATH)
    packet = packet_from_element(root)
    return Verification("unverified-legacy", packet, root, warnings=(_unverified_warning(what),))


def _unverified_warning(detail: str) -> Issue:
    return Issue(
        WARN_SIGNATURE_UNVERIFIED,
        f"Chữ ký số chưa được xác thực: {detail}",
        f"Signature not verified: {detail}",
        SIGNATURE_PATH,
    )
