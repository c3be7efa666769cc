"""SOAP 1.1 / 1.2 envelopes on raw lxml: read a request, write a response or a fault.

The version is told by the envelope namespace (and agrees with the Content-Type:
``text/xml`` for 1.1, ``application/soap+xml`` for 1.2). Requests are parsed with a hardened
parser: no DTD, no entities, no network; anything else is a ``Client``/``Sender`` fault.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from lxml import etree

SERVICE_NS = "urn:edoc-gateway:soap:1"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XML_NS = "http://www.w3.org/XML/1998/namespace"

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, remove_comments=True
)
# huge_tree: a SendDocument carries the packet as one base64 text node, often over lxml's
# 10 MB default; the body size is bounded before parsing and DOCTYPEs are refused.
MAX_DEPTH = 64


class SoapVersion(Enum):
    """A SOAP version: its envelope namespace and HTTP content type."""

    V11 = (SOAP11_NS, "text/xml")
    V12 = (SOAP12_NS, "application/soap+xml")

    @property
    def namespace(self) -> str:
        """The envelope namespace of this version."""
        return self.value[0]

    @property
    def content_type(self) -> str:
        """The HTTP media type of this version's messages."""
        return self.value[1]


class SoapFault(Exception):
    """A SOAP fault to answer with: ``sender`` (the request is wrong) or the server's fault.

    ``code`` is the gateway's stable error code; both messages travel in the fault detail.
    """

    def __init__(
        self,
        code: str,
        message_vi: str,
        message_en: str,
        *,
        sender: bool = True,
        path: str = "",
        version: SoapVersion | None = None,
    ) -> None:
        self.version = version  # the version to answer in, when the request told it
        self.code = code
        self.message_vi = message_vi
        self.message_en = message_en
        self.sender = sender
        self.path = path
        super().__init__(message_en)


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A parsed request: its version, the SOAP Header element (if any) and the Body's child."""

    version: SoapVersion
    header: etree._Element | None
    operation: etree._Element

    @property
    def name(self) -> str:
        """Local name of the operation element."""
        return etree.QName(self.operation).localname

    def text(self, child: str) -> str | None:
        """Return the stripped text of the operation's child ``child`` in the service namespace."""
        element = self.operation.find(f"{{{SERVICE_NS}}}{child}")
        if element is None:
            element = self.operation.find(child)  # tolerate unqualified children
        if element is None or element.text is None:
            return None
        return element.text.strip()

    def username_token(self) -> tuple[str, str] | None:
        """Return (username, password) of a WS-Security UsernameToken in the Header, if any."""
        if self.header is None:
            return None
        token = self.header.find(f".//{{{WSSE_NS}}}UsernameToken")
        if token is None:
            return None
        user = token.findtext(f"{{{WSSE_NS}}}Username")
        password = token.findtext(f"{{{WSSE_NS}}}Password")
        if user is None or password is None:
            return None
        return user.strip(), password.strip()


def version_for_content_type(content_type: str) -> SoapVersion | None:
    """Return the version a Content-Type announces, or ``None`` when it announces neither."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/xml":
        return SoapVersion.V11
    if media == "application/soap+xml":
        return SoapVersion.V12
    return None


def parse_request(body: bytes, content_type: str = "") -> SoapRequest:
    """Parse a SOAP request; raise :class:`SoapFault` for anything that is not one.

    The fault's ``version`` is the envelope's when it was recognized, else the one the
    Content-Type announced.
    """
    announced = version_for_content_type(content_type)
    try:
        return _parse(body, content_type, announced)
    except SoapFault as fault:
        if fault.version is None:
            fault.version = announced
        raise


def _parse(body: bytes, content_type: str, announced: SoapVersion | None) -> SoapRequest:
    if b"<!DOCTYPE" in body[:4096].upper():
        raise _malformed(announced, "DOCTYPE is not allowed")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise _malformed(announced, f"not well-formed XML: {exc.msg}") from exc
    if root is None:
        raise _malformed(announced, "empty document")
    _check_depth(root)
    namespace = etree.QName(root).namespace
    version = next((v for v in SoapVersion if v.namespace == namespace), None)
    if version is None or etree.QName(root).localname != "Envelope":
        raise SoapFault(
            "SOAP_VERSION_MISMATCH",
            "Phiên bản SOAP hoặc phần tử Envelope không hợp lệ",
            "Not a SOAP 1.1 or 1.2 Envelope",
        )
    if announced is not None and announced is not version:
        raise SoapFault(
            "SOAP_CONTENT_TYPE",
            "Content-Type không khớp với phiên bản SOAP",
            f"Content-Type {content_type!r} does not match the SOAP {version.name} envelope",
            version=version,
        )
    header = root.find(f"{{{version.namespace}}}Header")
    body_element = root.find(f"{{{version.namespace}}}Body")
    children = [] if body_element is None else [c for c in body_element if _is_element(c)]
    if len(children) != 1:
        raise SoapFault(
            "SOAP_BODY",
            "Phần Body phải chứa đúng một thao tác",
            "The SOAP Body must hold exactly one operation element",
            version=version,
        )
    return SoapRequest(version=version, header=header, operation=children[0])


def response(version: SoapVersion, operation: str, children: Iterable[etree._Element]) -> bytes:
    """Serialize a response envelope whose Body holds ``<tns:{operation}Response>``."""
    envelope, body = _envelope(version)
    wrapper = etree.SubElement(body, f"{{{SERVICE_NS}}}{operation}Response")
    wrapper.extend(children)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def element(name: str, text: object = None, *children: etree._Element) -> etree._Element:
    """Build ``<tns:name>`` with ``text`` (``None``: no text) and ``children``."""
    node = etree.Element(f"{{{SERVICE_NS}}}{name}")
    if text is not None:
        node.text = str(text).lower() if isinstance(text, bool) else str(text)
    node.extend(children)
    return node


def fault(version: SoapVersion, error: SoapFault) -> bytes:
    """Serialize the fault envelope of ``error`` in the form of ``version``."""
    envelope, body = _envelope(version)
    ns = version.namespace
    node = etree.SubElement(body, f"{{{ns}}}Fault")
    text = f"{error.message_en} / {error.message_vi}"
    if version is SoapVersion.V11:
        code = etree.SubElement(node, "faultcode")
        code.text = f"soap:{'Client' if error.sender else 'Server'}"
        etree.SubElement(node, "faultstring").text = text
        detail = etree.SubElement(node, "detail")
    else:
        code = etree.SubElement(etree.SubElement(node, f"{{{ns}}}Code"), f"{{{ns}}}Value")
        code.text = f"soap:{'Sender' if error.sender else 'Receiver'}"
        reason = etree.SubElement(node, f"{{{ns}}}Reason")
        english = etree.SubElement(reason, f"{{{ns}}}Text")
        english.set(f"{{{XML_NS}}}lang", "en")
        english.text = text
        vietnamese = etree.SubElement(reason, f"{{{ns}}}Text")
        vietnamese.set(f"{{{XML_NS}}}lang", "vi")
        vietnamese.text = error.message_vi
        detail = etree.SubElement(node, f"{{{ns}}}Detail")
    info = etree.SubElement(detail, f"{{{SERVICE_NS}}}GatewayFault")
    info.extend(
        [
            element("Code", error.code),
            element("MessageVi", error.message_vi),
            element("MessageEn", error.message_en),
        ]
    )
    if error.path:
        info.append(element("Path", error.path))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _envelope(version: SoapVersion) -> tuple[etree._Element, etree._Element]:
    nsmap = {"soap": version.namespace, "tns": SERVICE_NS}
    envelope = etree.Element(f"{{{version.namespace}}}Envelope", nsmap=nsmap)
    body = etree.SubElement(envelope, f"{{{version.namespace}}}Body")
    return envelope, body


def _malformed(version: SoapVersion | None, detail: str) -> SoapFault:
    return SoapFault(
        "SOAP_MALFORMED",
        "Yêu cầu SOAP không đúng cú pháp",
        f"Malformed SOAP request: {detail}",
        version=version,
    )


def _is_element(node: object) -> bool:
    return isinstance(node, etree._Element) and isinstance(node.tag, str)


def _check_depth(root: etree._Element) -> None:
    for node in root.iter():
        depth = 0
        parent = node.getparent()
        while parent is not None:
            depth += 1
            if depth > MAX_DEPTH:
                raise _malformed(None, f"nesting deeper than {MAX_DEPTH}")
            parent = parent.getparent()
