"""SOAP 1.1 envelopes of the Bkav eDoc hub protocol: read a request safely, write an answer.

Reading: the envelope is fed in chunks to an lxml parser whose target counts nesting depth
as each start tag arrives and refuses a DOCTYPE the moment the parser meets one (whatever the
encoding, after however many comments): a hostile body is refused while it is parsed, never
after a tree was built. No DTD is loaded, no entity resolved, nothing fetched.

Writing: ``soapenv`` envelope, Body = ``edXML:{Action}Response`` wrapping an ``edXML``-qualified
payload; refusals are ``Report{IsSuccess=false, ErrorList/Error{Code,Description}}``, never
SOAP faults (hub clients read the Report).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from edxml.edoc_vn import EDOC_NS, child, child_text, local_name
from edxml.edoc_vn_build import element
from edxml.errors import DtdForbidden, LimitExceeded, NotWellFormed
from gateway.errors import RequestInvalid

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
XLINK_NS = "http://www.w3.org/1999/xlink"
MAX_DEPTH = 48
_TOP_NSMAP = {"soapenv": SOAP11_NS, "edXML": EDOC_NS, "xlink": XLINK_NS}
_CHUNK = 64 * 1024


class _Refused(Exception):
    pass


class _Target:
    """Parser target: builds the tree, counts depth on each start, refuses any DOCTYPE."""

    def __init__(self, max_depth: int) -> None:
        self._builder = etree.TreeBuilder()
        self._depth = 0
        self._max = max_depth
        self.refusal: Exception | None = None

    def _refuse(self, error: Exception) -> None:
        self.refusal = error
        raise _Refused()

    def start(self, tag: str, attrib: Any, nsmap: Any = None) -> Any:
        self._depth += 1
        if self._depth > self._max:
            self._refuse(LimitExceeded(f"nesting deeper than {self._max}"))
        prefixes = {(k or None): v for k, v in (nsmap or {}).items()}
        return self._builder.start(tag, attrib, prefixes)

    def end(self, tag: str) -> Any:
        self._depth -= 1
        return self._builder.end(tag)

    def data(self, text: str) -> None:
        self._builder.data(text)

    def doctype(self, name: Any, public: Any, system: Any) -> None:
        self._refuse(DtdForbidden(f"DOCTYPE {name} is not allowed"))

    def comment(self, text: str) -> None:
        return None  # comments are dropped

    def pi(self, target: str, data: str | None = None) -> None:
        return None

    def close(self) -> Any:
        return self._builder.close()


def parse_xml(data: bytes, *, max_depth: int = MAX_DEPTH) -> etree._Element:
    """Parse untrusted XML into a tree, refusing DOCTYPEs and deep nesting while parsing.

    Raises ``DtdForbidden``, ``LimitExceeded`` or ``NotWellFormed`` (edXML refusals).
    """
    if not data.strip():
        raise NotWellFormed("empty envelope")
    target = _Target(max_depth)
    parser = etree.XMLParser(
        target=target,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
        remove_comments=True,
    )
    try:
        for start in range(0, len(data), _CHUNK):
            parser.feed(data[start : start + _CHUNK])
        root = parser.close()
    except (_Refused, etree.XMLSyntaxError, ValueError, TypeError) as exc:
        if target.refusal is not None:
            raise target.refusal from None
        raise NotWellFormed(f"not well-formed XML: {exc}") from None
    if target.refusal is not None:
        raise target.refusal
    if not isinstance(root, etree._Element):
        raise NotWellFormed("no root element")
    return root


@dataclass(frozen=True)
class HubRequest:
    """A parsed request: the SOAP Header and the Body's wrapper element (either may be
    missing) of a SOAP 1.1 envelope."""

    header: etree._Element | None
    body: etree._Element | None
    wrapper: etree._Element | None

    def text(self, name: str) -> str | None:
        """Return the stripped text of the wrapper's child ``name`` (local name)."""
        return child_text(self.wrapper, name)

    def header_child(self, name: str) -> etree._Element | None:
        """Return the SOAP Header's child ``name`` (old namespace or unqualified)."""
        return child(self.header, name)

    def body_child(self, name: str) -> etree._Element | None:
        """Return the SOAP Body's child ``name`` (old namespace or unqualified)."""
        return child(self.body, name)

    def document_id(self) -> int:
        """Return the numeric DocumentId: the first ``documentId`` element (any case)
        without a prefix, as the hub reads it; 0 when missing or not a number."""
        for el in (self.wrapper, self.body, self.header):
            if el is None:
                continue
            for node in el.iter():
                name = local_name(node) if isinstance(node.tag, str) else None
                if name is not None and name.lower() == "documentid":
                    text = (node.text or "").strip()
                    return int(text) if text.isdigit() and len(text) < 19 else 0
        return 0


class SoapVersionError(RequestInvalid):
    """The envelope is not SOAP 1.1 (the hub speaks 1.1 only)."""

    code = "SOAP_VERSION"
    message_vi = "Chỉ chấp nhận phong bì SOAP 1.1"
    message_en = "Only SOAP 1.1 envelopes are accepted"


class UnknownAction(RequestInvalid):
    """The SOAPAction header is missing or names no action of the hub."""

    code = "SOAP_ACTION_UNKNOWN"
    message_vi = "SOAPAction không có hoặc không được hỗ trợ"
    message_en = "SOAPAction is missing or not supported"


def read_request(envelope: bytes) -> HubRequest:
    """Parse the root part into a :class:`HubRequest`; raise the parse refusals of
    :func:`parse_xml` or ``SoapVersionError``."""
    root = parse_xml(envelope)
    if root.tag != f"{{{SOAP11_NS}}}Envelope":
        raise SoapVersionError(f"root element is {root.tag}")
    header = root.find(f"{{{SOAP11_NS}}}Header")
    body = root.find(f"{{{SOAP11_NS}}}Body")
    wrapper = None
    if body is not None:
        wrapper = next((c for c in body if isinstance(c.tag, str)), None)
    return HubRequest(header, body, wrapper)


# -- answers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportError:
    """One ``Error{Code,Description}`` of a Report."""

    code: str
    description: str


def report(errors: Sequence[ReportError] = ()) -> etree._Element:
    """Return ``edXML:Report``: ``IsSuccess`` true when there is no error."""
    node = element("Report", nsmap={"edXML": EDOC_NS})
    node.append(element("IsSuccess", not errors))
    error_list = element("ErrorList")
    for error in errors:
        item = element("Error")
        item.append(element("Code", error.code))
        item.append(element("Description", error.description))
        error_list.append(item)
    node.append(error_list)
    return node


def answer(action: str | None, payload: Iterable[etree._Element]) -> bytes:
    """Serialize an answer envelope; ``action`` None puts the payload directly in the Body."""
    nsmap = {"soapenv": SOAP11_NS}
    envelope = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap=nsmap)
    etree.SubElement(envelope, f"{{{SOAP11_NS}}}Header")
    body = etree.SubElement(envelope, f"{{{SOAP11_NS}}}Body")
    if action is None:
        body.extend(payload)
    else:
        wrapper = etree.SubElement(body, f"{{{EDOC_NS}}}{action}Response", nsmap={"edXML": EDOC_NS})
        wrapper.extend(payload)
    return _serialize(envelope)


def document_envelope(header: Iterable[etree._Element], body: Iterable[etree._Element]) -> bytes:
    """Serialize a GetDocument answer: the packet's Header and Body children, no wrapper."""
    nsmap = {"soapenv": SOAP11_NS, "edXML": EDOC_NS}
    envelope = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap=nsmap)
    etree.SubElement(envelope, f"{{{SOAP11_NS}}}Header").extend(header)
    etree.SubElement(envelope, f"{{{SOAP11_NS}}}Body").extend(body)
    return _serialize(envelope)


def _serialize(envelope: etree._Element) -> bytes:
    # Elements built apart each carry their own declarations; one set on the Envelope.
    etree.cleanup_namespaces(envelope, top_nsmap=_TOP_NSMAP)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
