"""Safe, order-insensitive reading of edXML packets into the typed model.

Untrusted bytes become a tree in ``edxml.safexml.safe_fromstring`` (re-exported here).
``packet_from_element`` reads an
already-parsed tree (signature verification builds the model from the signed element only).
The reader is tolerant: element order does not matter, unknown elements are ignored, both
``Bussiness`` and ``Business`` are accepted, and a ``MessageHeader`` that carries a status
is read as a status message.

This module reads the packet's frame (root, envelope, header, signature descriptor) and
hands each part to its reader: :mod:`edxml.parse_header`, :mod:`edxml.parse_trace`,
:mod:`edxml.parse_status`, :mod:`edxml.parse_body`; big packets go through
:mod:`edxml.parse_big`, values through :mod:`edxml.parse_values`.
"""

from __future__ import annotations

from lxml import etree

from .errors import FieldInvalid, WrongNamespace
from .model import NAMESPACE, Attachment, Envelope, SignatureInfo, StatusMessage
from .parse_big import BIG_PACKET, parse_big
from .parse_body import attachments, manifest
from .parse_header import message_header
from .parse_node import Node
from .parse_status import looks_like_status, status, status_code_from_text
from .parse_trace import trace_list
from .parse_values import VIETNAM_TZ, text_of
from .safexml import DEFAULT_LIMITS, Limits, safe_fromstring

__all__ = [
    "DEFAULT_LIMITS",
    "VIETNAM_TZ",
    "XMLDSIG_NS",
    "Limits",
    "packet_from_element",
    "parse",
    "safe_fromstring",
    "status_code_from_text",
]

XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


def parse(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Envelope | StatusMessage:
    """Read untrusted edXML bytes into an ``Envelope`` or a ``StatusMessage``.

    Raises the ``EdxmlError`` subclasses of :func:`safe_fromstring` and
    :func:`packet_from_element`.
    """
    if len(data) >= BIG_PACKET and len(data) <= limits.max_bytes:
        cut = parse_big(data, limits)
        if cut is not None:
            return _packet(*cut)
    root = safe_fromstring(data, limits)
    return packet_from_element(root)


def packet_from_element(root: etree._Element) -> Envelope | StatusMessage:
    """Build the model from an already-parsed tree (the ``edXML`` root or its envelope).

    Raises ``WrongNamespace`` when the root or envelope is not edXML, ``FieldInvalid`` for
    a missing required field or an unreadable value, ``StatusCodeInvalid`` for an unknown
    status code.
    """
    return _packet(root, {})


def _packet(root: etree._Element, encoded: dict[str, str]) -> Envelope | StatusMessage:
    if not isinstance(root.tag, str) or root.tag not in (
        f"{{{NAMESPACE}}}edXML",
        f"{{{NAMESPACE}}}edXMLEnvelope",
    ):
        raise WrongNamespace(f"root element is {root.tag!r}", path="/")
    if root.tag.endswith("}edXMLEnvelope"):
        top = None
        envelope = Node(root, "/edXMLEnvelope")
    else:
        top = Node(root, "/edXML")
        envelope = top.child("edXMLEnvelope")  # type: ignore[assignment]
        if envelope is None:
            raise WrongNamespace("edXMLEnvelope missing", path="/edXML/edXMLEnvelope")
    header = envelope.child("edXMLHeader")
    if header is None:
        raise FieldInvalid("edXMLHeader is required", path=f"{envelope.path}/edXMLHeader")
    signature = _signature(header) or (_signature(top) if top is not None else None)
    traces, business = trace_list(header.child("TraceHeaderList"))

    status_node = header.child("Status")
    message = header.child("MessageHeader")
    if status_node is None and message is not None and looks_like_status(message):
        status_node = message
    if status_node is not None:
        return status(status_node, traces, signature)
    if message is None:
        raise FieldInvalid("MessageHeader is required", path=f"{header.path}/MessageHeader")
    manifest_version, references = manifest(envelope.child("edXMLBody"))
    files: tuple[Attachment, ...] = ()
    if top is not None:
        files = attachments(top.child("AttachmentEncoded"), encoded)
    return Envelope(
        header=message_header(message),
        traces=traces,
        business=business,
        manifest=references,
        attachments=files,
        manifest_version=manifest_version,
        signature=signature,
    )


def _signature(node: Node | None) -> SignatureInfo | None:
    # What the packet says of its signature; signature.verify judges whether it holds.
    if node is None:
        return None
    el = node.first("Signature")
    namespace = NAMESPACE
    if el is None:
        el = node.el.find(f"{{{XMLDSIG_NS}}}Signature")
        namespace = XMLDSIG_NS
    if el is None:
        return None
    ns = f"{{{namespace}}}" if el.tag.startswith("{") else ""
    method = el.find(f"{ns}SignedInfo/{ns}SignatureMethod")
    c14n = el.find(f"{ns}SignedInfo/{ns}CanonicalizationMethod")
    subject = el.find(f"{ns}KeyInfo/{ns}X509Data/{ns}X509SubjectName")
    return SignatureInfo(
        namespace=namespace,
        signature_method=None if method is None else method.get("Algorithm"),
        canonicalization_method=None if c14n is None else c14n.get("Algorithm"),
        subject_name=None if subject is None else text_of(subject) or None,
    )
