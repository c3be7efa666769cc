"""The hostile packets of the HTTP corpus, forged against the node's own PKI.

:func:`packet_for` gives the bytes of each named packet (XML attacks, signature wrapping,
weak or untrusted signatures, attachment tricks, directory refusals); :data:`PACKET_CASES`
names the code each must be refused with and the system that sends it. The same attacks
on the library alone are in ``tests/security/test_edxml_hostile_*.py``.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import DigestAlgorithm, SignatureMethod

from edxml.model import NAMESPACE
from edxml.signature import DSIG, sign
from tests.conformance import OWN_DIR, OWN_DOCUMENT, THIRD_PARTY_REAL
from tests.pki import expired_leaf, make_leaf, make_self_signed
from tests.security.edxml_forge import (
    DS,
    NS,
    comment_in_sender,
    duplicate_signature,
    edit,
    header,
    move_signature_to_root,
    reparent_signed_envelope,
    second_envelope,
)
from tests.security.edxml_forge import with_attachment as forge_attachment
from tests.security.hostile_node import MAX_PACKET, Node
from tests.world import G17, G22, H41, LOCKED, document

_DC0 = THIRD_PARTY_REAL / "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
SAMPLE = _DC0 if _DC0.is_file() else OWN_DIR / OWN_DOCUMENT  # own packet on a bare clone


def signed(node: Node) -> bytes:
    """A document from G17 (system SYS-STRICT) signed by a trusted agency signer."""
    if "signed" not in node.cache:
        node.cache["signed"] = sign(
            document("5001", sender=G17), node.pki.signer.key, node.pki.signer.chain
        )
    return node.cache["signed"]


def wrap_second_envelope(root: etree._Element) -> None:
    """Put an unsigned envelope with a forged sender (G22) before the signed one."""
    second_envelope(root, G22)


def wrap_reparented(root: etree._Element) -> None:
    """Hide the signed envelope inside the signature; a forged one (G22) takes its place."""
    reparent_signed_envelope(root, G22)


def wrap_comment(root: etree._Element) -> None:
    """Split the sender code with a comment (not digested under exclusive C14N)."""
    comment_in_sender(root, "G17")


class _Sha1Signer(XMLSigner):
    def check_deprecated_methods(self) -> None:
        return None


def sha1_signed(node: Node) -> bytes:
    """The signed document re-signed with RSA-SHA1, as an attacker's tool would."""
    root = etree.fromstring(signed(node))
    header(root).remove(header(root)[-1])
    etree.SubElement(header(root), f"{DS}Signature", Id="placeholder", nsmap={"ds": DSIG})
    signer = _Sha1Signer(
        signature_algorithm=SignatureMethod.RSA_SHA1,
        digest_algorithm=DigestAlgorithm.SHA1,
        c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#",
    )
    key, chain = node.pki.signer.key, list(node.pki.signer.chain)
    return etree.tostring(signer.sign(root, key=key, cert=chain))


def signed_by(node: Node, credential: Any) -> bytes:
    """A document from G17 signed by ``credential``."""
    return sign(document("5002", sender=G17), credential.key, credential.chain)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def with_attachment(data: bytes, name: str, content_type: str) -> bytes:
    """The sample packet carrying ``data`` as its attachment, named and typed as given."""
    return forge_attachment(SAMPLE.read_bytes(), data, name, content_type)


def bad_base64() -> bytes:
    """The sample packet with an attachment that is not Base64."""

    def change(root: etree._Element) -> None:
        root.find(f".//{NS}ContentTransferEncoded").text = "not*base64*at*all"

    return edit(SAMPLE.read_bytes(), change)


BODY = b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&x;</edXML>'
DECL = b'<?xml version="1.0" encoding="UTF-8"?>'
XML_ATTACKS: dict[str, tuple[bytes, str]] = {
    "xxe-file": (
        DECL + b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + BODY,
        "EDXML_DTD_FORBIDDEN",
    ),
    "xxe-network": (
        DECL + b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "http://127.0.0.1:9/s">]>' + BODY,
        "EDXML_DTD_FORBIDDEN",
    ),
    "parameter-entity": (
        DECL
        + b'<!DOCTYPE edXML [<!ENTITY % p SYSTEM "http://127.0.0.1:9/e.dtd"> %p;]>'
        + BODY.replace(b"&x;", b""),
        "EDXML_DTD_FORBIDDEN",
    ),
    "external-dtd": (
        DECL + b'<!DOCTYPE edXML SYSTEM "http://127.0.0.1:9/edxml.dtd">' + BODY[:-9] + b">",
        "EDXML_DTD_FORBIDDEN",
    ),
    "billion-laughs": (
        DECL
        + b'<!DOCTYPE edXML [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        + b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY x "&c;&c;&c;&c;&c;&c;&c;">]>'
        + BODY,
        "EDXML_DTD_FORBIDDEN",
    ),
    "quadratic-blowup": (
        DECL
        + b'<!DOCTYPE edXML [<!ENTITY x "'
        + b"A" * 50_000
        + b'">]>'
        + BODY.replace(b"&x;", b"&x;" * 5_000),
        "EDXML_DTD_FORBIDDEN",
    ),
    "deep-nesting": (
        BODY.replace(b"&x;", b"<a>" * 5000 + b"</a>" * 5000),
        "EDXML_LIMIT",
    ),
    "invalid-utf8": (
        document("5003").replace("Đơn vị gửi".encode(), b"\xd0\xa1n v\xef g\xf6i", 1),
        "EDXML_NOT_WELL_FORMED",
    ),
    "wrong-namespace": (
        document("5004").replace(NAMESPACE.encode(), b"urn:not-edxml"),
        "EDXML_NAMESPACE",
    ),
    "not-xml": (b"\x00\x01PK\x03\x04 definitely not xml", "EDXML_NOT_WELL_FORMED"),
}


def packet_for(node: Node, name: str) -> bytes:
    """Bytes of the named hostile packet (cached: signing costs time)."""
    if name in node.cache:
        return node.cache[name]
    if name in XML_ATTACKS:
        data = XML_ATTACKS[name][0]
    elif name.startswith("wrap-"):
        attack = {
            "wrap-moved": move_signature_to_root,
            "wrap-duplicated": duplicate_signature,
            "wrap-second-envelope": wrap_second_envelope,
            "wrap-reparented": wrap_reparented,
            "wrap-comment": wrap_comment,
        }[name]
        data = edit(signed(node), attack)
    elif name == "sha1":
        data = sha1_signed(node)
    elif name == "rsa1024":
        data = signed_by(node, make_leaf(node.pki.ca, "Khóa yếu", "rsa1024"))
    elif name == "expired-cert":
        data = signed_by(node, expired_leaf(node.pki.ca, "Hết hạn"))
    elif name == "untrusted-cert":
        data = signed_by(node, make_self_signed("Kẻ lạ"))
    elif name == "tampered":
        data = signed(node).replace(H41.encode(), b"000.00.00.H42", 1)
    elif name == "unsigned-strict":
        data = document("5005", sender=G17)
    elif name == "zip-bomb":
        data = with_attachment(_zip({"a.txt": b"\0" * (30 * 2**20)}), "a.zip", "application/zip")
    elif name == "zip-traversal":
        evil = _zip({"../../../../etc/cron.d/x.txt": b"* * * * * root sh"})
        data = with_attachment(evil, "a.zip", "application/zip")
    elif name == "disallowed-type":
        data = with_attachment(b"MZ\x90\x00", "setup.exe", "application/pdf")
    elif name == "bad-base64":
        data = bad_base64()
    elif name == "forged-from":
        data = document("5006", sender=G22)  # sent by SYS-H41, which speaks for H41 only
    elif name == "recipient-suspended":
        data = document("5007", to=(LOCKED,))
    elif name == "recipient-unknown":
        data = document("5008", to=("000.00.00.H63",))
    elif name == "huge-node":
        data = document("5009").replace(b"</edXML:Subject>", b"X" * MAX_PACKET + b"</", 1)
    else:
        raise KeyError(name)
    node.cache[name] = data
    return data


STRICT = "SYS-STRICT"
PACKET_CASES: list[tuple[str, str, str]] = [
    *((name, code, "SYS-G22") for name, (_, code) in XML_ATTACKS.items()),
    ("wrap-moved", "SIGNATURE_WRAPPING", STRICT),
    ("wrap-duplicated", "SIGNATURE_WRAPPING", STRICT),
    ("wrap-second-envelope", "SIGNATURE_WRAPPING|EDXML_SCHEMA", STRICT),
    ("wrap-reparented", "SIGNATURE_WRAPPING|SIGNATURE_INVALID", STRICT),
    ("wrap-comment", "SIGNATURE_WRAPPING", STRICT),
    ("sha1", "SIGNATURE_WEAK", STRICT),
    ("rsa1024", "SIGNATURE_WEAK", STRICT),
    ("expired-cert", "CERT_EXPIRED", STRICT),
    ("untrusted-cert", "CERT_UNTRUSTED", STRICT),
    ("tampered", "SIGNATURE_INVALID", STRICT),
    ("unsigned-strict", "SIGNATURE_ABSENT", STRICT),
    ("zip-bomb", "ATTACHMENT_BOMB", "SYS-G22"),
    ("zip-traversal", "ATTACHMENT_PATH", "SYS-G22"),
    ("disallowed-type", "ATTACHMENT_TYPE", "SYS-G22"),
    ("bad-base64", "ATTACHMENT_INVALID", "SYS-G22"),
    ("forged-from", "SENDER_NOT_ALLOWED", "SYS-H41"),
    ("recipient-suspended", "AGENCY_INACTIVE", "SYS-G22"),
    ("recipient-unknown", "CODE_UNKNOWN", "SYS-G22"),
    ("huge-node", "PAYLOAD_TOO_LARGE", "SYS-G22"),
]
