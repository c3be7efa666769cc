"""A throw-away PKI for tests: CAs, intermediates and leaf certificates made on the fly.

Everything is generated with ``cryptography`` in memory; :func:`write_pems` puts the PEMs in a
directory for tools that want files (``xmlsec1``, the CLI). Keys are RSA-2048 or EC P-256 by
default; ``key_type="rsa1024"`` makes a deliberately weak key.

    ca = make_ca("Test Root CA")
    sub = make_ca("Test Issuing CA", issuer=ca)
    leaf = make_leaf(sub, "Văn thư VPCP", key_type="ec")
    leaf.key, leaf.cert, leaf.chain   # chain = (leaf.cert, sub.cert), the anchor excluded
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["rsa", "ec", "rsa1024"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Credential:
    """A private key with its certificate and the chain up to (not including) the anchor."""

    key: PrivateKey
    cert: x509.Certificate
    issuer: Credential | None = field(default=None, repr=False)

    @property
    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def cert_pem(self) -> bytes:
        """The certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """This certificate followed by its issuers, stopping before the self-signed root."""
        out: list[x509.Certificate] = [self.cert]
        node = self.issuer
        while node is not None and node.issuer is not None:
            out.append(node.cert)
            node = node.issuer
        return tuple(out)

    @property
    def chain_pem(self) -> bytes:
        """:attr:`chain` as concatenated PEMs."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)


def new_key(key_type: KeyType = "rsa") -> PrivateKey:
    """Return a freshly generated private key of the given type."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    size = 1024 if key_type == "rsa1024" else 2048
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edoc-gateway tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ski(key: PrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def make_ca(
    name: str,
    key_type: KeyType = "rsa",
    *,
    issuer: Credential | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Credential:
    """Make a CA certificate: self-signed root, or an intermediate signed by ``issuer``."""
    key = new_key(key_type)
    now = datetime.now(UTC)
    not_before = not_before or now - timedelta(days=1)
    not_after = not_after or now + timedelta(days=3650)
    signer_key = issuer.key if issuer else key
    issuer_name = issuer.cert.subject if issuer else _name(name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            critical=False,
        )
    )
    cert = builder.sign(signer_key, hashes.SHA256())
    return Credential(key=key, cert=cert, issuer=issuer)


def make_leaf(
    ca: Credential,
    cn: str,
    key_type: KeyType = "rsa",
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key: PrivateKey | None = None,
) -> Credential:
    """Make an end-entity signing certificate issued by ``ca`` (digitalSignature usage)."""
    key = key or new_key(key_type)
    now = datetime.now(UTC)
    not_before = not_before or now - timedelta(days=1)
    not_after = not_after or now + timedelta(days=365)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
            ),
            critical=False,
        )
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    cert = builder.sign(ca.key, hashes.SHA256())
    return Credential(key=key, cert=cert, issuer=ca)


def make_self_signed(cn: str, key_type: KeyType = "rsa") -> Credential:
    """Make a self-signed end-entity certificate that no test anchor trusts."""
    ca = make_ca(cn, key_type)
    return make_leaf(ca, cn, key_type, key=ca.key)


def expired_leaf(ca: Credential, cn: str, key_type: KeyType = "rsa") -> Credential:
    """Make a leaf certificate whose validity ended a day ago."""
    now = datetime.now(UTC)
    return make_leaf(
        ca,
        cn,
        key_type,
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
    )


def write_pems(directory: Path, **creds: Credential) -> dict[str, Path]:
    """Write ``<name>.key.pem``, ``<name>.cert.pem`` and ``<name>.chain.pem`` for each credential.

    Returns a mapping ``"<name>.key" | "<name>.cert" | "<name>.chain"`` to the written paths.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, cred in creds.items():
        for suffix, blob in (
            ("key", cred.key_pem),
            ("cert", cred.cert_pem),
            ("chain", cred.chain_pem),
        ):
            path = directory / f"{name}.{suffix}.pem"
            path.write_bytes(blob)
            paths[f"{name}.{suffix}"] = path
    return paths
