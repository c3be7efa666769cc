"""Hostile edXML at the XML level: DTDs and entities, depth, size, encoding, namespace and
malformed packets are refused by the pipeline with their own stable code, a path and both
messages.
"""

from __future__ import annotations

import pytest

from edxml.model import NAMESPACE
from edxml.parse import Limits
from tests.conformance import own_malformed
from tests.security.edxml_forge import MALFORMED, refused

BODY = b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&x;</edXML>'


@pytest.mark.parametrize(
    "doc",
    [
        b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + BODY,
        b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "http://127.0.0.1:9/secret">]>' + BODY,
        b'<!DOCTYPE edXML [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>'
        + BODY.replace(b"&x;", b""),
        b'<!DOCTYPE edXML SYSTEM "http://127.0.0.1:9/edxml.dtd">' + BODY.replace(b"&x;", b""),
        b'<!DOCTYPE edXML [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
        b'<!ENTITY x "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>' + BODY,
        b'<!DOCTYPE edXML [<!ENTITY x "'
        + b"A" * 50_000
        + b'">]>'
        + BODY.replace(b"&x;", b"&x;" * 5_000),
        b"<!DOCTYPE edXML>" + BODY.replace(b"&x;", b""),
    ],
    ids=[
        "xxe-file",
        "xxe-network",
        "parameter-entity",
        "external-dtd",
        "billion-laughs",
        "quadratic-blowup",
        "bare-doctype",
    ],
)
def test_dtd_and_entities_are_refused(doc: bytes) -> None:
    refused(b'<?xml version="1.0" encoding="UTF-8"?>' + doc, "EDXML_DTD_FORBIDDEN", policy="off")


def test_deep_nesting() -> None:
    depth = 5000
    doc = b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">' + b"<a>" * depth
    doc += b"</a>" * depth + b"</edXML>"
    refused(doc, "EDXML_LIMIT", policy="off")


def test_huge_text_node_beyond_limit(sample: bytes) -> None:
    limits = Limits(max_bytes=10 * 2**20, max_depth=64, max_text_bytes=100_000)
    big = sample.replace(b"<edXML:Subject>", b"<edXML:Subject>" + b"X" * 200_000, 1)
    refused(big, "EDXML_LIMIT", policy="off", limits=limits)


def test_packet_beyond_size_limit(sample: bytes) -> None:
    refused(sample, "EDXML_LIMIT", policy="off", limits=Limits(max_bytes=len(sample) - 1))


def test_invalid_utf8(sample: bytes) -> None:
    bad = sample.replace("Văn phòng".encode(), b"V\xe0n ph\xf2ng", 1)
    assert bad != sample
    refused(bad, "EDXML_NOT_WELL_FORMED", policy="off")


def test_wrong_namespace(sample: bytes) -> None:
    other = sample.replace(NAMESPACE.encode(), b"urn:not-edxml")
    refused(other, "EDXML_NAMESPACE", policy="off")


def test_malformed_template_from_the_wire() -> None:
    path = MALFORMED / "vpcp-template-edoc.edxml"
    data = path.read_bytes() if path.is_file() else own_malformed()
    refused(data, "EDXML_NOT_WELL_FORMED", policy="legacy")
