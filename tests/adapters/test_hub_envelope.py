"""Hub SOAP framing and envelopes: MIME read by the email parser, hostile XML refused while
parsing, answers shaped as the hub's."""

from __future__ import annotations

import base64

import pytest
from lxml import etree

from adapters.soap import mime
from adapters.soap.envelope import (
    ReportError,
    SoapVersionError,
    answer,
    parse_xml,
    read_request,
    report,
)
from edxml.errors import DtdForbidden, LimitExceeded, NotWellFormed
from gateway.errors import PayloadTooLarge, RequestInvalid
from tests.hub_client import E, frame

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
ROOT = (
    f'<s:Envelope xmlns:s="{SOAP}"><s:Body><GetDocumentRequest><OrganId>A</OrganId>'
    "<Token>t</Token><DocumentId>42</DocumentId></GetDocumentRequest></s:Body></s:Envelope>"
).encode()
BINARY = bytes(range(256)) + b"\r\n--Bound\r\n\r\n" + b"\r\n" * 3 + b"\n\r"


def test_csharp_framing_round_trips_binary_parts_exactly() -> None:
    content_type, body = frame(ROOT, {"att1": ("application/pdf", BINARY)})
    framing = mime.framing(content_type)
    assert framing.multipart and framing.start == "Start"
    assert mime.root_part(content_type, body, framing, True) == ROOT
    parts = mime.attachments(content_type, body, framing)
    assert parts["att1"].data == BINARY and parts["att1"].content_type == "application/pdf"


def test_transfer_encodings_are_undone_by_the_mime_layer() -> None:
    encoded = base64.encodebytes(BINARY)
    body = (
        b"--b\r\nContent-Type: text/xml\r\nContent-ID: <r>\r\n\r\n" + ROOT + b"\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-ID: <a>\r\n\r\n" + encoded + b"\r\n--b--\r\n"
    )
    content_type = 'multipart/related; boundary=b; type="text/xml"; start="<r>"'
    framing = mime.framing(content_type)
    assert mime.attachments(content_type, body, framing)["a"].data == BINARY


def test_root_must_lead_and_fit_the_head() -> None:
    content_type, body = frame(ROOT, {"att1": ("application/pdf", BINARY)})
    framing = mime.framing(content_type)
    with pytest.raises(PayloadTooLarge):
        mime.root_part(content_type, body[: len(ROOT)], framing, False)
    other = mime.framing(content_type.replace('start="Start"', 'start="<nowhere>"'))
    with pytest.raises(RequestInvalid):
        mime.root_part(content_type, body, other, True)
    twice = body.replace(
        b"--Boundary--", b"--Boundary\r\nContent-ID: <att1>\r\n\r\nx\r\n--Boundary--"
    )
    with pytest.raises(RequestInvalid):
        mime.attachments(content_type, twice, framing)


def test_multipart_answer_is_read_back_by_the_email_parser() -> None:
    framed = mime.multipart(ROOT, [mime.MimePart("att1", "application/pdf", b"JVBERi0=")])
    assert framed.content_type.startswith("multipart/related; boundary=MIMEBoundary_")
    framing = mime.framing(framed.content_type)
    assert framing.start is not None and framing.start.endswith("@apache.org")
    assert mime.root_part(framed.content_type, framed.body, framing, True) == ROOT
    assert mime.attachments(framed.content_type, framed.body, framing)["att1"].data == b"JVBERi0="


@pytest.mark.parametrize(
    "data",
    [
        b'<!DOCTYPE x [<!ENTITY e "y">]><x>&e;</x>',
        b"<!--" + b"-" * 0 + b"c" * 100_000 + b'--><!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e "y">]><x/>'.encode(
            "utf-16"
        ),
        b"<?xml version='1.0'?>\n<!-- a -->\n<?pi x?>\n<!DOCTYPE x><x/>",
    ],
    ids=["internal-subset", "after-long-comment", "utf-16", "after-pi"],
)
def test_doctype_is_refused_by_the_parser(data: bytes) -> None:
    with pytest.raises(DtdForbidden):
        parse_xml(data)


def test_depth_is_counted_while_parsing() -> None:
    with pytest.raises(LimitExceeded):
        parse_xml(b"<a>" * 100_000)  # never closed: refused at depth 49, not at the end
    assert parse_xml(b"<a>" * 40 + b"</a>" * 40).tag == "a"
    with pytest.raises(NotWellFormed):
        parse_xml(b"<a><b></a>")


def test_request_reading_and_document_id() -> None:
    request = read_request(ROOT)
    assert request.wrapper is not None and request.text("OrganId") == "A"
    assert request.document_id() == 42
    with pytest.raises(SoapVersionError):
        read_request(ROOT.replace(SOAP.encode(), b"http://www.w3.org/2003/05/soap-envelope"))


def test_answers_are_shaped_as_the_hub_s() -> None:
    out = answer("ConfirmReceived", [report([ReportError("NOT_FOUND", "Không thấy / Not found")])])
    root = etree.fromstring(out)
    wrapper = root.find(f"{{{SOAP}}}Body/{{{E}}}ConfirmReceivedResponse")
    assert wrapper is not None
    assert wrapper.findtext(f"{{{E}}}Report/{{{E}}}IsSuccess") == "false"
    assert wrapper.findtext(f".//{{{E}}}Error/{{{E}}}Code") == "NOT_FOUND"
    assert b"ns0:" not in out and out.startswith(b"<?xml")
    ok = etree.fromstring(answer("CheckPermission", [report()]))
    assert ok.findtext(f".//{{{E}}}IsSuccess") == "true"
    assert ok.find(f".//{{{E}}}ErrorList") is not None
