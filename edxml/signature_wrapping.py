"""Defences against signature wrapping: one signature, in its one place, over the whole
document, with only the profile's transforms, in a tree with nothing the signature does not
cover (comments and processing instructions escape exclusive C14N).

Each check raises ``SignatureWrapping`` (or ``SignatureInvalid`` for a ``SignedInfo`` that
is malformed rather than misleading) before any cryptography is done.
"""

from __future__ import annotations

from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod

from .errors import SignatureInvalid, SignatureWrapping, WrongNamespace
from .signature_profile import (
    ALLOWED_TRANSFORMS,
    DSIG,
    ENVELOPE_TAG,
    ENVELOPED,
    HEADER_TAG,
    SIGNATURE_PATH,
)


def header(root: etree._Element) -> etree._Element:
    """Return the one ``edXMLEnvelope/edXMLHeader``; ``WrongNamespace`` when not exactly one."""
    envelopes = root.findall(ENVELOPE_TAG)
    headers = envelopes[0].findall(HEADER_TAG) if len(envelopes) == 1 else []
    if len(headers) != 1:
        raise WrongNamespace("expected one edXML:edXMLEnvelope/edXMLHeader", path="/edXML")
    return headers[0]


def check_placement(root: etree._Element, signatures: list[etree._Element]) -> None:
    """Refuse anything but one signature, a child of the one header, in a tree
    with one envelope and no comments or processing instructions."""
    if len(signatures) != 1:
        raise SignatureWrapping(f"{len(signatures)} XML-DSig signatures", path=SIGNATURE_PATH)
    if sum(1 for _ in root.iter(ENVELOPE_TAG)) != 1:
        raise SignatureWrapping("more than one edXMLEnvelope", path="/edXML/edXMLEnvelope")
    if signatures[0].getparent() is not header(root):
        raise SignatureWrapping(
            f"signature found at {element_path(signatures[0])}, expected {SIGNATURE_PATH}",
            path=element_path(signatures[0]),
        )
    extra = next(root.iter(etree.Comment, etree.ProcessingInstruction), None)
    if extra is not None:
        raise SignatureWrapping(
            "comments and processing instructions are not covered by the signature",
            path=element_path(extra.getparent()) if extra.getparent() is not None else "/edXML",
        )


def check_signed_info(sig: etree._Element) -> tuple[SignatureMethod, list[DigestAlgorithm]]:
    """Return the signature method and digest of a ``SignedInfo`` with one whole-document
    ``Reference`` and the profile's transforms; refuse any other."""
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
    if ENVELOPED not in transforms or not set(transforms) <= ALLOWED_TRANSFORMS:
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


def element_path(el: etree._Element | None) -> str:
    """The ``/a/b/c`` path of local names from the root to ``el``."""
    parts: list[str] = []
    while el is not None:
        parts.append(etree.QName(el).localname)
        el = el.getparent()
    return "/" + "/".join(reversed(parts))
