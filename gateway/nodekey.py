"""The node's signing key: a PEM file (encrypted or not) or a key that never leaves a PKCS#11
token (an agency's USB token or HSM; SoftHSM2 in the tests).

A token key is wrapped in :class:`Pkcs11RsaKey`, a ``cryptography`` ``RSAPrivateKey`` whose
``sign()`` runs in the token (``CKM_SHA256_RSA_PKCS`` and friends, through python-pkcs11):
signxml, ``edxml.signature`` and the push request signature all call
``key.sign(data, padding, algorithm)`` and need nothing else, so every signature the node
makes works unchanged. Exporting the key (``private_bytes``, ``private_numbers``) is refused.

Where the key is (``[node]`` in the configuration):

- ``key_file`` alone: PEM, PKCS#8 or traditional; when encrypted, the password comes from
  ``key_password_file`` or ``key_password`` (the environment: ``EDOC_NODE__KEY_PASSWORD``);
- ``pkcs11_uri = "pkcs11:token=LABEL;object=LABEL"`` (RFC 7512; ``id=%01`` also accepted) with
  ``pkcs11_module`` (the token's PKCS#11 library) and the user PIN from ``pkcs11_pin_file`` or
  ``pkcs11_pin`` (``EDOC_NODE__PKCS11_PIN``). Neither the PIN nor the password is ever logged.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PSS, AsymmetricPadding, PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import NoDigestInfo, Prehashed
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.core.receipts import NodeIdentity
from gateway.errors import GatewayError
from gateway.ops.health import Check, CheckFailed

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class NodeKeyUnavailable(GatewayError):
    """Raised when the node key cannot be loaded: wrong password or PIN, token absent."""

    code = "NODE_KEY_UNAVAILABLE"
    message_vi = "Không nạp được khóa ký của nút"
    message_en = "The node signing key cannot be loaded"


@dataclass(frozen=True)
class Pkcs11Uri:
    """The parts of an RFC 7512 ``pkcs11:`` URI the gateway uses."""

    token: str
    label: str | None = None
    key_id: bytes | None = None
    module: str | None = None
    pin_file: str | None = None

    @classmethod
    def parse(cls, uri: str) -> Pkcs11Uri:
        """Parse ``pkcs11:token=…;object=…[;id=…][?module-path=…&pin-source=file:…]``."""
        if not uri.startswith("pkcs11:"):
            raise NodeKeyUnavailable("node key URI must start with pkcs11:")
        path, _, query = uri[len("pkcs11:") :].partition("?")
        attrs = dict(_pairs(path, ";"))
        extra = dict(_pairs(query, "&"))
        if "token" not in attrs:
            raise NodeKeyUnavailable("pkcs11 URI names no token (token=...)")
        if "object" not in attrs and "id" not in attrs:
            raise NodeKeyUnavailable("pkcs11 URI names no key (object=... or id=...)")
        pin_source = extra.get("pin-source")
        return cls(
            token=attrs["token"],
            label=attrs.get("object"),
            key_id=unquote(attrs["id"], encoding="latin-1").encode("latin-1")
            if "id" in attrs
            else None,
            module=extra.get("module-path"),
            pin_file=pin_source[len("file:") :]
            if pin_source and pin_source.startswith("file:")
            else None,
        )


def _pairs(text: str, sep: str) -> list[tuple[str, str]]:
    out = []
    for part in filter(None, text.split(sep)):
        name, _, value = part.partition("=")
        out.append((name, value if name == "id" else unquote(value)))
    return out


_HASH_MECHANISMS = {"sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}


class Pkcs11RsaKey(rsa.RSAPrivateKey):
    """An RSA private key held by a PKCS#11 token; only ``sign`` and ``public_key`` work."""

    def __init__(self, session: Any, private: Any, public: rsa.RSAPublicKey) -> None:
        self._session = session  # kept open (and logged in) for the life of the process
        self._private = private
        self._public = public
        self._lock = threading.Lock()  # one operation at a time per PKCS#11 session

    def sign(
        self,
        data: bytes,
        padding: AsymmetricPadding,
        algorithm: Prehashed | hashes.HashAlgorithm | NoDigestInfo,
    ) -> bytes:
        """Sign ``data`` inside the token (PKCS#1 v1.5 or PSS with SHA-256/384/512)."""
        from pkcs11 import MGF, Mechanism

        if not isinstance(algorithm, hashes.HashAlgorithm) or (
            algorithm.name not in _HASH_MECHANISMS
        ):
            raise UnsupportedAlgorithm(f"token signing does not support {algorithm!r}")
        suffix = _HASH_MECHANISMS[algorithm.name]
        param = None
        if isinstance(padding, PKCS1v15):
            mechanism = getattr(Mechanism, f"{suffix}_RSA_PKCS")
        elif isinstance(padding, PSS):
            mechanism = getattr(Mechanism, f"{suffix}_RSA_PKCS_PSS")
            salt = padding._salt_length  # cryptography exposes no getter
            if salt is PSS.MAX_LENGTH:
                salt = (self.key_size + 7) // 8 - algorithm.digest_size - 2
            elif not isinstance(salt, int):
                salt = algorithm.digest_size
            param = (getattr(Mechanism, suffix), getattr(MGF, suffix), salt)
        else:
            raise UnsupportedAlgorithm(f"token signing does not support {padding.name}")
        with self._lock:
            return bytes(self._private.sign(data, mechanism=mechanism, mechanism_param=param))

    @property
    def key_size(self) -> int:
        """Modulus size in bits."""
        return self._public.key_size

    def public_key(self) -> rsa.RSAPublicKey:
        """The public half, read from the token."""
        return self._public

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        """Refused: the node key only signs."""
        raise TypeError("the node key in the token only signs")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        """Refused: the key never leaves the token."""
        raise TypeError("the node key never leaves the token")

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        """Refused: the key never leaves the token."""
        raise TypeError("the node key never leaves the token")

    def __copy__(self) -> Pkcs11RsaKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Pkcs11RsaKey:
        return self


def _secret(value: Any, path: Path | None, what: str) -> bytes | None:
    if value is not None:
        return str(value.get_secret_value()).encode()
    if path is not None:
        try:
            return Path(path).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise NodeKeyUnavailable(f"cannot read the {what} file {path}: {exc.strerror}") from exc
    return None


def open_token_key(uri: str, module: Path | str, pin: bytes | None) -> Pkcs11RsaKey:
    """Log in to the token named by ``uri`` and return its RSA key (the PIN is not kept)."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    parsed = Pkcs11Uri.parse(uri)
    if pin is None:
        raise NodeKeyUnavailable(
            "no PIN for the token: set node.pkcs11_pin_file or EDOC_NODE__PKCS11_PIN"
        )
    try:
        lib = pkcs11.lib(str(parsed.module or module))
        token = lib.get_token(token_label=parsed.token)
        try:
            session = token.open(user_pin=pin.decode())
        except pkcs11.UserAlreadyLoggedIn:  # this process holds a logged-in session already
            session = token.open()
        query: dict[str, Any] = {"object_class": ObjectClass.PRIVATE_KEY, "key_type": KeyType.RSA}
        if parsed.label is not None:
            query["label"] = parsed.label
        if parsed.key_id is not None:
            query["id"] = parsed.key_id
        private = session.get_key(**query)
        numbers = rsa.RSAPublicNumbers(
            int.from_bytes(private[Attribute.PUBLIC_EXPONENT], "big"),
            int.from_bytes(private[Attribute.MODULUS], "big"),
        )
    except pkcs11.PKCS11Error as exc:
        # Names the failure (PinIncorrect, NoSuchToken, NoSuchKey...), never the PIN.
        raise NodeKeyUnavailable(f"token {parsed.token!r}: {type(exc).__name__}") from None
    return Pkcs11RsaKey(session, private, numbers.public_key())


def load_pem_key(path: Path, password: bytes | None) -> PrivateKey:
    """Read a PEM private key, decrypting it with ``password`` when it is encrypted."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise NodeKeyUnavailable(f"cannot read {path}: {exc.strerror}") from exc
    try:
        key = load_pem_private_key(data, password=password)
    except TypeError as exc:  # encrypted without a password, or a password for a clear key
        hint = "set node.key_password_file or EDOC_NODE__KEY_PASSWORD" if password is None else ""
        raise NodeKeyUnavailable(f"{path}: {exc} {hint}".strip()) from None
    except ValueError:
        raise NodeKeyUnavailable(f"{path}: wrong password or not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise NodeKeyUnavailable(f"{path}: node key must be RSA or EC")
    return key


def uses_protected_key(node: Any) -> bool:
    """Whether the settings put the key in a token or behind a password."""
    return bool(
        node.pkcs11_uri or node.key_password is not None or node.key_password_file is not None
    )


def load_key(node: Any) -> PrivateKey:
    """The node's private key from its ``[node]`` settings (token, or PEM file)."""
    if node.pkcs11_uri:
        parsed = Pkcs11Uri.parse(node.pkcs11_uri)
        pin_file = node.pkcs11_pin_file or (Path(parsed.pin_file) if parsed.pin_file else None)
        pin = _secret(node.pkcs11_pin, pin_file, "PIN")
        return open_token_key(node.pkcs11_uri, node.pkcs11_module, pin)
    password = _secret(node.key_password, node.key_password_file, "key password")
    return load_pem_key(node.key_file, password)


def load_identity(node: Any) -> NodeIdentity | None:
    """The node identity (key and certificate chain), or ``None`` when no key is configured.

    A configured but unusable key (wrong PIN, token absent, wrong password) raises
    ``NodeKeyUnavailable``: a node must not start signing with nothing.
    """
    if not node.pkcs11_uri and not (
        Path(node.key_file).is_file() and Path(node.cert_file).is_file()
    ):
        return None
    try:
        chain = tuple(x509.load_pem_x509_certificates(Path(node.cert_file).read_bytes()))
    except (OSError, ValueError) as exc:
        raise NodeKeyUnavailable(f"node certificate {node.cert_file} unreadable: {exc}") from exc
    key = load_key(node)  # a key not matching the certificate fails readiness, not start-up
    algorithm = "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
    return NodeIdentity(node.code, key, chain, algorithm)


def _probe_signature(identity: NodeIdentity, now: datetime) -> str:
    data = b"edoc-gateway readiness probe"
    public = identity.chain[0].public_key()
    key = identity.key
    try:
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(
            public, ec.EllipticCurvePublicKey
        ):
            ecdsa = ec.ECDSA(hashes.SHA256())
            public.verify(key.sign(data, ecdsa), data, ecdsa)
        elif isinstance(key, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey):
            signature = key.sign(data, PKCS1v15(), hashes.SHA256())
            public.verify(signature, data, PKCS1v15(), hashes.SHA256())
        else:
            raise CheckFailed("node key and node certificate are of different key types")
    except InvalidSignature as exc:
        raise CheckFailed("node key does not match the node certificate") from exc
    except CheckFailed:
        raise
    except Exception as exc:  # the token was removed, the session closed...
        raise CheckFailed(f"node key cannot sign: {type(exc).__name__}") from exc
    cert = identity.chain[0]
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
        raise CheckFailed("node certificate is not valid now")
    days = (cert.not_valid_after_utc - now).total_seconds() / 86400
    return f"signs; certificate valid for {days:.0f} more days"


def signing_check(get_identity: Any, timeout_s: float = 5.0) -> Check:
    """Readiness of a token or password-protected key: it signs now and matches the
    certificate (a removed USB token takes the node out of service)."""

    async def probe() -> str:
        identity = get_identity()
        if identity is None:
            raise CheckFailed("node key not loaded")
        return await asyncio.to_thread(_probe_signature, identity, datetime.now(UTC))

    return Check("node_key", probe, timeout_s)
