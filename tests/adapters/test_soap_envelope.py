"""Tests of SOAP envelope parsing and fault rendering (adapters/soap/envelope.py)."""

from __future__ import annotations

import pytest
from lxml import etree

from adapters.soap.envelope import (
    MAX_DEPTH,
    SERVICE_NS,
    SOAP11_NS,
    SOAP12_NS,
    WSSE_NS,
    SoapFault,
    SoapVersion,
    element,
    fault,
    parse_request,
    response,
    version_for_content_type,
)


def envelope(ns: str, body: str, header: str = "") -> bytes:
    return (
        f'<e:Envelope xmlns:e="{ns}" xmlns:t="{SERVICE_NS}" xmlns:w="{WSSE_NS}">'
        f"<e:Header>{header}</e:Header><e:Body>{body}</e:Body></e:Envelope>"
    ).encode()


@pytest.mark.parametrize(
    ("content_type", "version"),
    [
        ("text/xml; charset=utf-8", SoapVersion.V11),
        ("application/soap+xml;charset=UTF-8;action=x", SoapVersion.V12),
        ("application/json", None),
    ],
)
def test_version_from_content_type(content_type: str, version: SoapVersion | None) -> None:
    assert version_for_content_type(content_type) is version


@pytest.mark.parametrize("ns", [SOAP11_NS, SOAP12_NS])
def test_parse_reads_operation_and_children(ns: str) -> None:
    request = parse_request(
        envelope(ns, "<t:GetDocument><t:MessageId> m1 </t:MessageId></t:GetDocument>")
    )
    assert request.version.namespace == ns
    assert request.name == "GetDocument"
    assert request.text("MessageId") == "m1"
    assert request.text("Other") is None


def test_username_token() -> None:
    header = (
        "<w:Security><w:UsernameToken><w:Username>SYS</w:Username>"
        "<w:Password>pw</w:Password></w:UsernameToken></w:Security>"
    )
    request = parse_request(envelope(SOAP11_NS, "<t:GetOrganizations/>", header))
    assert request.username_token() == ("SYS", "pw")
    assert parse_request(envelope(SOAP11_NS, "<t:GetOrganizations/>")).username_token() is None


@pytest.mark.parametrize(
    ("payload", "content_type", "code", "version"),
    [
        (b"<<<", "application/soap+xml", "SOAP_MALFORMED", SoapVersion.V12),
        (b"<!DOCTYPE a><a/>", "text/xml", "SOAP_MALFORMED", SoapVersion.V11),
        (b"<a/>", "", "SOAP_VERSION_MISMATCH", None),
        (envelope(SOAP11_NS, ""), "", "SOAP_BODY", SoapVersion.V11),
        (envelope(SOAP11_NS, "<t:A/><t:B/>"), "", "SOAP_BODY", SoapVersion.V11),
        (envelope(SOAP11_NS, "<t:A/>"), "application/soap+xml", "SOAP_CONTENT_TYPE", None),
    ],
)
def test_bad_requests_raise_faults(
    payload: bytes, content_type: str, code: str, version: SoapVersion | None
) -> None:
    with pytest.raises(SoapFault) as caught:
        parse_request(payload, content_type)
    assert caught.value.code == code
    assert caught.value.sender
    if version is not None:
        assert caught.value.version is version


def test_depth_is_bounded() -> None:
    deep = "<t:x>" * (MAX_DEPTH + 5) + "</t:x>" * (MAX_DEPTH + 5)
    with pytest.raises(SoapFault, match="nesting"):
        parse_request(envelope(SOAP11_NS, f"<t:GetOrganizations>{deep}</t:GetOrganizations>"))


def test_response_wraps_children() -> None:
    out = etree.fromstring(response(SoapVersion.V12, "GetDocument", [element("MessageId", "m")]))
    assert (
        out.findtext(
            f"{{{SOAP12_NS}}}Body/{{{SERVICE_NS}}}GetDocumentResponse/{{{SERVICE_NS}}}MessageId"
        )
        == "m"
    )
    assert element("Duplicate", True).text == "true"


def test_soap11_fault_shape() -> None:
    error = SoapFault("CODE_UNKNOWN", "Mã không có", "Unknown code", path="To")
    out = etree.fromstring(fault(SoapVersion.V11, error))
    node = out.find(f"{{{SOAP11_NS}}}Body/{{{SOAP11_NS}}}Fault")
    assert node is not None
    assert node.findtext("faultcode") == "soap:Client"
    assert "Unknown code" in node.findtext("faultstring")
    assert node.findtext(f"detail/{{{SERVICE_NS}}}GatewayFault/{{{SERVICE_NS}}}Path") == "To"


def test_soap12_fault_shape() -> None:
    error = SoapFault("STORE_ERROR", "Lỗi lưu trữ", "Storage error", sender=False)
    out = etree.fromstring(fault(SoapVersion.V12, error))
    node = out.find(f"{{{SOAP12_NS}}}Body/{{{SOAP12_NS}}}Fault")
    assert node is not None
    assert node.findtext(f"{{{SOAP12_NS}}}Code/{{{SOAP12_NS}}}Value") == "soap:Receiver"
    texts = node.findall(f"{{{SOAP12_NS}}}Reason/{{{SOAP12_NS}}}Text")
    langs = {t.get("{http://www.w3.org/XML/1998/namespace}lang") for t in texts}
    assert langs == {"en", "vi"}
    code = node.findtext(f"{{{SOAP12_NS}}}Detail/{{{SERVICE_NS}}}GatewayFault/{{{SERVICE_NS}}}Code")
    assert code == "STORE_ERROR"
