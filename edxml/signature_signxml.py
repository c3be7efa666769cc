"""The one place that calls ``signxml``: sign a tree, or verify one and return what it signed.

signxml's own parser caps text nodes at 10 MB; here both sides read trees that
``safe_fromstring`` already accepted, with a per-thread parser that allows huge text.
signxml's errors become ``SignatureInvalid`` or ``CertificateExpired`` here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from .errors import CertificateExpired, EdxmlError, SignatureInvalid
from .signature_profile import EXC_C14N, LOCATION, SIGNATURE_PATH, PrivateKey


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


def sign_tree(
    root: etree._Element,
    key: PrivateKey,
    cert_chain: Sequence[x509.Certificate],
    method: SignatureMethod,
) -> etree._Element:
    """Return the signed tree of ``root`` (whose header holds a ``ds:Signature`` placeholder),
    SHA-256 digest and exclusive C14N; ``SignatureInvalid`` when signxml refuses."""
    signer = _Signer(
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=EXC_C14N,
    )
    try:
        signed: etree._Element = signer.sign(root, key=key, cert=list(cert_chain))
    except Exception as exc:  # signxml/cryptography refuse the key or tree
        raise SignatureInvalid(f"signing failed: {exc}", path=SIGNATURE_PATH) from exc
    return signed


def verified_content(
    root: etree._Element,
    leaf: x509.Certificate,
    method: SignatureMethod,
    digests: list[DigestAlgorithm],
    when: datetime,
) -> etree._Element | None:
    """Verify the signature in the header with ``leaf``'s key and return the signed XML
    (re-parsed from the digested bytes)."""
    config = SignatureConfiguration(
        location=LOCATION,
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
