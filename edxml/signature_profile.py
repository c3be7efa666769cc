"""The XML-DSig profile of this project: namespaces, where the signature sits, and which
algorithms and key sizes count as strong (see :mod:`edxml.signature` for the whole profile).

A signature outside the profile is not refused here: :func:`weakness` says why it falls
short, and the verifier decides what that means under the partner's policy.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from signxml.algorithms import DigestAlgorithm, SignatureMethod

from .model import NAMESPACE

DSIG = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_INCLUSIVE_C14N = (
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
)
ALLOWED_TRANSFORMS = frozenset({ENVELOPED, EXC_C14N, *_INCLUSIVE_C14N})

ENVELOPE_TAG = f"{{{NAMESPACE}}}edXMLEnvelope"
HEADER_TAG = f"{{{NAMESPACE}}}edXMLHeader"
DS_SIGNATURE_TAG = f"{{{DSIG}}}Signature"
LEGACY_SIGNATURE_TAG = f"{{{NAMESPACE}}}Signature"
SIGNATURE_PATH = "/edXML/edXMLEnvelope/edXMLHeader/Signature"
LOCATION = f"./{ENVELOPE_TAG}/{HEADER_TAG}/"

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


def weakness(
    method: SignatureMethod, digests: list[DigestAlgorithm], leaf: x509.Certificate
) -> str | None:
    """Say why a signature falls short of the profile, or ``None`` when it does not."""
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


def method_name(method: SignatureMethod) -> str:
    """The profile's short name of ``method`` (``rsa-sha256``), else its URI fragment."""
    for name, known in ALGORITHMS.items():
        if known is method:
            return name
    return method.value.rsplit("#", 1)[-1]
