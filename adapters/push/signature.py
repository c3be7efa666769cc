"""The node's request signature on pushed packets, and its verification by recipients.

The gateway signs every push with its node key (RSA or EC) over a canonical string::

    POST\n<path and query>\n<timestamp>\n<delivery id>\n<sha256 hex of the body>

sent as headers ``X-Edoc-Timestamp``, ``X-Edoc-Delivery-Id``, ``X-Edoc-Content-SHA256``,
``X-Edoc-Signature`` (base64) and ``X-Edoc-Signature-Alg``. A recipient system verifies it
with the node's certificate (:func:`verify_request`).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

H_NODE = "X-Edoc-Node"
H_TIMESTAMP = "X-Edoc-Timestamp"
H_DELIVERY = "X-Edoc-Delivery-Id"
H_MESSAGE = "X-Edoc-Message-Id"
H_RECIPIENT = "X-Edoc-Recipient"
H_SENDER = "X-Edoc-Sender"
H_KIND = "X-Edoc-Kind"
H_SHA256 = "X-Edoc-Content-SHA256"
H_SIGNATURE = "X-Edoc-Signature"
H_ALGORITHM = "X-Edoc-Signature-Alg"

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class PushSignatureError(Exception):
    """Raised by :func:`verify_request` when a pushed request's signature is refused."""


def canonical(method: str, path: str, timestamp: str, delivery_id: str, sha256_hex: str) -> bytes:
    """Return the bytes that the node signs for one pushed request."""
    return "\n".join((method.upper(), path, timestamp, delivery_id, sha256_hex)).encode()


def sign_request(
    key: SigningKey,
    *,
    method: str,
    path: str,
    delivery_id: str,
    body: bytes,
    now: float | None = None,
) -> dict[str, str]:
    """Return the signature headers for a request carrying ``body``."""
    timestamp = str(int(time.time() if now is None else now))
    digest = hashlib.sha256(body).hexdigest()
    data = canonical(method, path, timestamp, delivery_id, digest)
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        algorithm = "rsa-sha256"
    else:
        signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
        algorithm = "ecdsa-sha256"
    return {
        H_TIMESTAMP: timestamp,
        H_DELIVERY: delivery_id,
        H_SHA256: digest,
        H_SIGNATURE: base64.b64encode(signature).decode(),
        H_ALGORITHM: algorithm,
    }


def verify_request(
    cert: x509.Certificate,
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    max_skew_s: int = 300,
    now: float | None = None,
) -> str:
    """Check a pushed request against the node's certificate; return its delivery id.

    Raises :class:`PushSignatureError` for a missing header, a body that does not match its
    hash, a timestamp outside ``max_skew_s`` or a signature that does not verify.
    """
    try:
        timestamp, delivery_id = headers[H_TIMESTAMP], headers[H_DELIVERY]
        digest, signature = headers[H_SHA256], base64.b64decode(headers[H_SIGNATURE])
    except (KeyError, ValueError) as exc:
        raise PushSignatureError(f"missing or malformed signature header: {exc}") from exc
    if hashlib.sha256(body).hexdigest() != digest:
        raise PushSignatureError("body does not match its SHA-256 header")
    current = time.time() if now is None else now
    if not timestamp.isdigit() or abs(current - int(timestamp)) > max_skew_s:
        raise PushSignatureError("timestamp outside the allowed clock skew")
    data = canonical(method, path, timestamp, delivery_id, digest)
    public_key = cert.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise PushSignatureError("unsupported key type in the node certificate")
    except InvalidSignature as exc:
        raise PushSignatureError("signature does not verify") from exc
    return delivery_id
