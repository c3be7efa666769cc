"""Receipts: what the gateway gives the caller once a packet is stored (DESIGN step 8).

A receipt names the message id, the content hash, the actual and the legal receipt time
(``gateway.core.calendar``), the signature verdict and each recipient's state. It is rendered as
JSON, or as an XML document signed by the node's key (W3C XML-DSig, enveloped, made by
signxml, as ``edxml.signature`` does for packets) that ``xmlsec1 --verify`` accepts
against the node certificate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml.signer import XMLSigner

from edxml.signature import sign as sign_packet

RECEIPT_NS = "urn:edoc-gateway:receipt:1"
_DSIG = "http://www.w3.org/2000/09/xmldsig#"
_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


@dataclass(frozen=True)
class NodeIdentity:
    """This node's agency code, signing key and certificate chain, loaded once."""

    code: str
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]
    algorithm: str = "rsa-sha256"

    def sign_packet(self, data: bytes) -> bytes:
        """Return an edXML packet signed by the node (``edxml.signature.sign``)."""
        return sign_packet(data, self.key, self.chain, algorithm=self.algorithm)

    def sign_xml(self, root: etree._Element) -> bytes:
        """Return any XML tree with an enveloped W3C XML-DSig (exclusive C14N, SHA-256)
        as the last child of its root element."""
        method = (
            SignatureMethod.ECDSA_SHA256
            if self.algorithm == "ecdsa-sha256"
            else SignatureMethod.RSA_SHA256
        )
        signer = XMLSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=method,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=_EXC_C14N,
        )
        signer.namespaces = {"ds": _DSIG}
        signed = signer.sign(root, key=self.key, cert=list(self.chain))
        out: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
        return out


def load_node_identity(code: str, key_file: Path, cert_file: Path) -> NodeIdentity:
    """Read the node key (unencrypted PEM) and its certificate chain (PEM, leaf first)."""
    key = load_pem_private_key(Path(key_file).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("node key must be RSA or EC")
    chain = tuple(x509.load_pem_x509_certificates(Path(cert_file).read_bytes()))
    algorithm = "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
    return NodeIdentity(code, key, chain, algorithm)


@dataclass(frozen=True)
class Receipt:
    """The gateway's acknowledgement of one stored packet."""

    message_id: str
    kind: str
    document_id: str
    sender: str
    content_sha256: str
    accepted_at: datetime
    legal_receipt_at: datetime
    signature: dict[str, Any]
    recipients: tuple[dict[str, Any], ...]
    duplicate: bool = False
    warnings: tuple[dict[str, str], ...] = field(default=())
    node: str | None = None
    related_message_id: str | None = None
    attachments: tuple[dict[str, Any], ...] = field(default=())  # with pdf_signatures

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of the receipt."""
        return {
            "message_id": self.message_id,
            "kind": self.kind,
            "document_id": self.document_id,
            "sender": self.sender,
            "content_sha256": self.content_sha256,
            "accepted_at": self.accepted_at.isoformat(),
            "legal_receipt_at": self.legal_receipt_at.isoformat(),
            "signature": dict(self.signature),
            "recipients": [dict(r) for r in self.recipients],
            "duplicate": self.duplicate,
            "warnings": [dict(w) for w in self.warnings],
            "node": self.node,
            "related_message_id": self.related_message_id,
            "attachments": [dict(a) for a in self.attachments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Receipt:
        """Rebuild a receipt from :meth:`as_dict` output (the stored receipt)."""
        return cls(
            message_id=data["message_id"],
            kind=data["kind"],
            document_id=data["document_id"],
            sender=data["sender"],
            content_sha256=data["content_sha256"],
            accepted_at=datetime.fromisoformat(data["accepted_at"]),
            legal_receipt_at=datetime.fromisoformat(data["legal_receipt_at"]),
            signature=dict(data.get("signature") or {}),
            recipients=tuple(dict(r) for r in data.get("recipients", ())),
            duplicate=bool(data.get("duplicate", False)),
            warnings=tuple(dict(w) for w in data.get("warnings", ())),
            node=data.get("node"),
            related_message_id=data.get("related_message_id"),
            attachments=tuple(dict(a) for a in data.get("attachments", ())),
        )

    def with_states(self, states: dict[str, str], *, duplicate: bool | None = None) -> Receipt:
        """Return a copy with recipient states replaced by ``states`` (keyed by code)."""
        recipients = tuple(
            {**r, "state": states.get(r["code"], r.get("state"))} for r in self.recipients
        )
        return replace(
            self,
            recipients=recipients,
            duplicate=self.duplicate if duplicate is None else duplicate,
        )


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, f"{{{RECEIPT_NS}}}{tag}", {k: v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def receipt_element(receipt: Receipt) -> etree._Element:
    """Return the unsigned XML tree of a receipt."""
    root = etree.Element(f"{{{RECEIPT_NS}}}Receipt", nsmap={None: RECEIPT_NS})
    _sub(root, "MessageId", receipt.message_id)
    _sub(root, "Kind", receipt.kind)
    _sub(root, "DocumentId", receipt.document_id)
    _sub(root, "Sender", receipt.sender)
    _sub(root, "ContentSha256", receipt.content_sha256)
    _sub(root, "AcceptedAt", receipt.accepted_at.isoformat())
    _sub(root, "LegalReceiptAt", receipt.legal_receipt_at.isoformat())
    _sub(root, "Duplicate", "true" if receipt.duplicate else "false")
    if receipt.node:
        _sub(root, "Node", receipt.node)
    verdict = {k: str(v) for k, v in receipt.signature.items() if v is not None}
    _sub(root, "SignatureVerdict", **verdict)
    recipients = _sub(root, "Recipients")
    for r in receipt.recipients:
        attrs = {k: str(v) for k, v in r.items() if v is not None}
        _sub(recipients, "Recipient", **attrs)
    return root


def signed_receipt_xml(receipt: Receipt, node: NodeIdentity) -> bytes:
    """Return the XML receipt signed by the node (enveloped W3C XML-DSig)."""
    return node.sign_xml(receipt_element(receipt))
