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
"""

from __future__ import annotations

import binascii
import dataclasses
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification as xv
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from .errors import (
    WARN_SIGNATURE_UNVERIFIED,
    CertificateExpired,
    CertificateUntrusted,
    EdxmlError,
    Issue,
    SignatureAbsent,
    SignatureInvalid,
    SignatureWeak,
    SignatureWrapping,
    WrongNamespace,
)
from .model import NAMESPACE, Envelope, SignatureInfo, StatusMessage
from .parse import packet_from_element
from .safexml import DEFAULT_LIMITS, Limits, safe_fromstring

DSIG = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_INCLUSIVE_C14N = (
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
)
_ALLOWED_TRANSFORMS = frozenset({ENVELOPED, EXC_C14N, *_INCLUSIVE_C14N})

_ENVELOPE = f"{{{NAMESPACE}}}edXMLEnvelope"
_HEADER = f"{{{NAMESPACE}}}edXMLHeader"
_DS_SIGNATURE = f"{{{DSIG}}}Signature"
_LEGACY_SIGNATURE = f"{{{NAMESPACE}}}Signature"
SIGNATURE_PATH = "/edXML/edXMLEnvelope/edXMLHeader/Signature"
_LOCATION = f"./{_ENVELOPE}/{_HEADER}/"

ALGORITHMS: dict[str, SignatureMethod] = {
    "rsa-sha256": SignatureMethod.RSA_SHA256,
    "ecdsa-sha256": SignatureMethod.ECDSA_SHA256,
}
_STRONG_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
        SignatureMethod.SHA256_RSA_MGF1,
        SignatureMethod.SHA384_RSA_MGF1,
        SignatureMethod.SHA512_RSA_MGF1,
    }
)
_STRONG_DIGESTS = frozenset(
    {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
)
_SHA1_METHODS = frozenset(
    {SignatureMethod.RSA_SHA1, SignatureMethod.ECDSA_SHA1, SignatureMethod.DSA_SHA1}
)
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


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


class _Signer(XMLSigner):
    """signxml's signer reading our already-checked tree with a huge-text-capable parser."""

    @property
    def parser(self) -> etree.XMLParser:
        return _parser()


class _Verifier(XMLVerifier):
    """signxml's verifier with the same parser (its default one caps text nodes at 10 MB).

    Given a document root already accepted by ``safe_fromstring`` it reads that tree instead
    of serialising and re-parsing a copy: signxml never modifies the tree it starts from (it
    copies it again before applying the transforms).
    """

    @property
    def parser(self) -> etree.XMLParser:
        return _parser()

    def get_root(self, data: object) -> etree._Element:
        if isinstance(data, etree._Element) and data.getparent() is None:
            return data
        root: etree._Element = super().get_root(data)  # type: ignore[no-untyped-call]
        return root


_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers must not be shared between threads; this one only re-reads trees that
    # safe_fromstring already accepted, so it needs huge_tree but no further limits.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
        )
        _local.parser = parser
    return parser


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
    header = _header(root)
    for old in [*header.iterchildren(_LEGACY_SIGNATURE, _DS_SIGNATURE)]:
        _drop(old)
    etree.SubElement(header, _DS_SIGNATURE, Id="placeholder", nsmap={"ds": DSIG})
    signer = _Signer(
        signature_algorithm=ALGORITHMS[algorithm],
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=EXC_C14N,
    )
    try:
        signed = signer.sign(root, key=key, cert=list(cert_chain))
    except Exception as exc:  # signxml/cryptography refuse the key or tree
        raise SignatureInvalid(f"signing failed: {exc}", path=SIGNATURE_PATH) from exc
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
    signatures = list(root.iter(_DS_SIGNATURE))
    if not signatures:
        return _unsigned(root, policy)
    _check_placement(root, signatures)
    sig = signatures[0]
    method, digests = _check_signed_info(sig)
    certs = _certificates(sig)
    leaf = _leaf(certs)
    when = (now or datetime.now(UTC)).astimezone(UTC)
    weak = _weakness(method, digests, leaf)
    if weak and policy is Policy.STRICT:
        raise SignatureWeak(weak, path=SIGNATURE_PATH)
    chain: tuple[str, ...] = ()
    if not weak:
        chain = _check_chain(leaf, certs, trust_anchors, when)
    signed = _signxml_verify(root, leaf, method, digests, when)
    if signed is None or signed.tag != root.tag or len(signed.findall(_ENVELOPE)) != 1:
        raise SignatureWrapping("the signed content is not one edXML packet", path="/edXML")
    packet = packet_from_element(signed)
    signer = _subject(leaf)
    name = _method_name(method)
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
    legacy = next(root.iter(_LEGACY_SIGNATURE), None)
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


def _header(root: etree._Element) -> etree._Element:
    envelopes = root.findall(_ENVELOPE)
    headers = envelopes[0].findall(_HEADER) if len(envelopes) == 1 else []
    if len(headers) != 1:
        raise WrongNamespace("expected one edXML:edXMLEnvelope/edXML:edXMLHeader", path="/edXML")
    return headers[0]


def _check_placement(root: etree._Element, signatures: list[etree._Element]) -> None:
    if len(signatures) != 1:
        raise SignatureWrapping(f"{len(signatures)} XML-DSig signatures", path=SIGNATURE_PATH)
    if sum(1 for _ in root.iter(_ENVELOPE)) != 1:
        raise SignatureWrapping("more than one edXMLEnvelope", path="/edXML/edXMLEnvelope")
    if signatures[0].getparent() is not _header(root):
        raise SignatureWrapping(
            f"signature found at {_path(signatures[0])}, expected {SIGNATURE_PATH}",
            path=_path(signatures[0]),
        )
    extra = next(root.iter(etree.Comment, etree.ProcessingInstruction), None)
    if extra is not None:
        raise SignatureWrapping(
            "comments and processing instructions are not covered by the signature",
            path=_path(extra.getparent()) if extra.getparent() is not None else "/edXML",
        )


def _check_signed_info(sig: etree._Element) -> tuple[SignatureMethod, list[DigestAlgorithm]]:
    ns = {"ds": DSIG}
    method_el = sig.find("ds:SignedInfo/ds:SignatureMethod", namespaces=ns)
    refs = sig.findall("ds:SignedInfo/ds:Reference", namespaces=ns)
    if method_el is None or len(refs) != 1:
        raise SignatureInvalid(
            "SignedInfo needs one SignatureMethod and one Reference", path=SIGNATURE_PATH
        )
    if refs[0].get("URI") != "":
        raise SignatureWrapping(
            f'Reference URI {refs[0].get("URI")!r}: only the whole document (URI="") is accepted',
            path=SIGNATURE_PATH + "/SignedInfo/Reference",
        )
    transforms = [t.get("Algorithm") for t in refs[0].iterfind("ds:Transforms/ds:Transform", ns)]
    if ENVELOPED not in transforms or not set(transforms) <= _ALLOWED_TRANSFORMS:
        raise SignatureWrapping(
            f"unexpected transforms {transforms}", path=SIGNATURE_PATH + "/SignedInfo/Reference"
        )
    try:
        method = SignatureMethod(method_el.get("Algorithm"))
        digests = [
            DigestAlgorithm(d.get("Algorithm"))
            for d in refs[0].iterfind("ds:DigestMethod", namespaces=ns)
        ]
    except Exception as exc:
        raise SignatureInvalid(f"unknown algorithm: {exc}", path=SIGNATURE_PATH) from exc
    if len(digests) != 1:
        raise SignatureInvalid("Reference needs one DigestMethod", path=SIGNATURE_PATH)
    return method, digests


def _certificates(sig: etree._Element) -> list[x509.Certificate]:
    texts = [
        el.text or ""
        for el in sig.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", {"ds": DSIG})
    ]
    if not texts:
        raise SignatureInvalid("no X509Certificate in KeyInfo", path=SIGNATURE_PATH + "/KeyInfo")
    try:
        return [_load_certificate(_b64(text)) for text in texts]
    except Exception as exc:
        raise SignatureInvalid(
            f"unreadable X509Certificate: {exc}", path=SIGNATURE_PATH + "/KeyInfo"
        ) from exc


@lru_cache(maxsize=512)
def _load_certificate(der: bytes) -> x509.Certificate:
    # Senders reuse their certificates: parse each DER once per process.
    cert = x509.load_der_x509_certificate(der)
    _subject(cert)  # cryptography parses lazily: force every field used later now
    cert.public_key()
    return cert


def _b64(text: str) -> bytes:
    return binascii.a2b_base64("".join(text.split()), strict_mode=True)


def _leaf(certs: list[x509.Certificate]) -> x509.Certificate:
    # X509Data has no order (XML-DSig 1.1 §4.5.4): the leaf is the one that issued nothing.
    leaves = [c for c in certs if not any(o is not c and o.issuer == c.subject for o in certs)]
    if len(leaves) != 1:
        raise SignatureInvalid(
            "X509Data does not form a single chain", path=SIGNATURE_PATH + "/KeyInfo"
        )
    return leaves[0]


def _weakness(
    method: SignatureMethod, digests: list[DigestAlgorithm], leaf: x509.Certificate
) -> str | None:
    if method in _SHA1_METHODS or any(d not in _STRONG_DIGESTS for d in digests):
        return f"SHA-1 or weak digest ({method.name}, {[d.name for d in digests]})"
    if method not in _STRONG_METHODS:
        return f"signature method {method.name} is not in the profile"
    key = leaf.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"RSA key of {key.key_size} bits (< {MIN_RSA_BITS})"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        return f"EC key of {key.curve.key_size} bits (< {MIN_EC_BITS})"
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return f"key type {type(key).__name__} is not in the profile"
    return None


def _require_digital_signature(
    policy: xv.Policy, cert: x509.Certificate, usage: x509.KeyUsage | None
) -> None:
    if usage is None or not usage.digital_signature:
        raise ValueError("certificate KeyUsage does not allow digitalSignature")


_EE_POLICY = xv.ExtensionPolicy.permit_all().require_present(
    x509.KeyUsage, xv.Criticality.AGNOSTIC, _require_digital_signature
)
_CA_POLICY = xv.ExtensionPolicy.webpki_defaults_ca()


def _check_chain(
    leaf: x509.Certificate,
    certs: list[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    when: datetime,
) -> tuple[str, ...]:
    for cert in certs:
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            raise CertificateExpired(
                f"{cert.subject.rfc4514_string()} valid {cert.not_valid_before_utc:%Y-%m-%d}"
                f"–{cert.not_valid_after_utc:%Y-%m-%d}, checked at {when:%Y-%m-%d %H:%M}Z",
                path=SIGNATURE_PATH + "/KeyInfo",
            )
    if not anchors:
        raise CertificateUntrusted("no trust anchors configured", path=SIGNATURE_PATH + "/KeyInfo")
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
            f"{leaf.subject.rfc4514_string()}: {exc}", path=SIGNATURE_PATH + "/KeyInfo"
        ) from exc
    chain = tuple(_subject(c) for c in verified.chain)
    _chain_cache_put(key, verified.chain, chain)
    return chain


# Path validation depends only on the certificates, the anchors and the time (no revocation
# source is configured here), so a verified path is reused while the time stays inside every
# certificate's validity window, for at most _CHAIN_CACHE_S of wall time.
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


def _signxml_verify(
    root: etree._Element,
    leaf: x509.Certificate,
    method: SignatureMethod,
    digests: list[DigestAlgorithm],
    when: datetime,
) -> etree._Element | None:
    config = SignatureConfiguration(
        location=_LOCATION,
        expect_references=1,
        signature_methods=frozenset({method}),
        digest_algorithms=frozenset(digests),
        verification_time=when,
    )
    try:
        result = _Verifier().verify(root, x509_cert=leaf, expect_config=config, parser=_parser())
    except (InvalidDigest, InvalidSignature) as exc:
        raise SignatureInvalid(str(exc), path=SIGNATURE_PATH) from exc
    except InvalidCertificate as exc:
        raise CertificateExpired(str(exc), path=SIGNATURE_PATH + "/KeyInfo") from exc
    except EdxmlError:
        raise
    except Exception as exc:  # signxml InvalidInput, lxml DocumentInvalid, cryptography errors
        raise SignatureInvalid(f"{type(exc).__name__}: {exc}", path=SIGNATURE_PATH) from exc
    return result.signed_xml  # type: ignore[union-attr]


@lru_cache(maxsize=256)
def _subject(cert: x509.Certificate) -> str:
    # Certificates hash and compare by their DER bytes; RFC 4514 rendering is slow-ish.
    return cert.subject.rfc4514_string()


def _method_name(method: SignatureMethod) -> str:
    for name, known in ALGORITHMS.items():
        if known is method:
            return name
    return method.value.rsplit("#", 1)[-1]


def _drop(el: etree._Element) -> None:
    parent = el.getparent()
    if parent is None:
        return
    parent.remove(el)


def _path(el: etree._Element | None) -> str:
    parts: list[str] = []
    while el is not None:
        parts.append(etree.QName(el).localname)
        el = el.getparent()
    return "/" + "/".join(reversed(parts))
