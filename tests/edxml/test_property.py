"""Property tests: mutated real packets never make the library raise anything but EdxmlError.

Hypothesis mutates the real packets (byte flips, truncation, element deletion and
duplication) and feeds them to parse, validate_schema and rules.check. Whatever parses must
also survive build and read back to the same model.
"""

from __future__ import annotations

import contextlib
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from edxml.build import build
from edxml.errors import EdxmlError
from edxml.parse import parse, safe_fromstring
from edxml.rules import check
from edxml.schema import validate_schema
from tests.conformance import OWN_DOCUMENT, OWN_STATUS, THIRD_PARTY_REAL, own

# The project's own packets always; the small third-party samples too when they are present.
SMALL = [own(OWN_DOCUMENT), own(OWN_STATUS)] + [
    (THIRD_PARTY_REAL / name).read_bytes()
    for name in (
        "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml",
        "bkav-status_processing_05.edxml",
    )
    if (THIRD_PARTY_REAL / name).is_file()
]
TODAY = date(2026, 6, 1)
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _exercise(data: bytes) -> None:
    """Run every entry point; only EdxmlError may come out."""
    try:
        packet = parse(data)
    except EdxmlError:
        return
    with contextlib.suppress(EdxmlError):
        validate_schema(safe_fromstring(data))
    with contextlib.suppress(EdxmlError):
        check(packet, today=TODAY)
    try:
        rebuilt = build(packet)
    except EdxmlError:
        return
    assert parse(rebuilt) == packet


@st.composite
def byte_flips(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SMALL)))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    return bytes(data)


@st.composite
def truncations(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(SMALL))
    return data[: draw(st.integers(0, len(data)))]


@st.composite
def tree_edits(draw: st.DrawFn) -> bytes:
    root = etree.fromstring(draw(st.sampled_from(SMALL)))
    elements = [el for el in root.iter() if isinstance(el.tag, str) and el is not root]
    for _ in range(draw(st.integers(1, 4))):
        if not elements:
            break
        el = draw(st.sampled_from(elements))
        parent = el.getparent()
        if parent is None:
            continue
        action = draw(st.sampled_from(["delete", "duplicate", "text", "empty"]))
        if action == "delete":
            parent.remove(el)
            elements = [e for e in root.iter() if isinstance(e.tag, str) and e is not root]
        elif action == "duplicate":
            parent.insert(parent.index(el), etree.fromstring(etree.tostring(el)))
        elif action == "text" and len(el) == 0:
            el.text = draw(st.text(max_size=40).filter(_xml_safe))
        else:
            el.text = ""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _xml_safe(text: str) -> bool:
    try:
        etree.Element("x").text = text
    except ValueError:
        return False
    return True


@SETTINGS
@given(byte_flips())
def test_byte_flips(data: bytes) -> None:
    _exercise(data)


@SETTINGS
@given(truncations())
def test_truncations(data: bytes) -> None:
    _exercise(data)


@SETTINGS
@given(tree_edits())
def test_element_deletion_duplication(data: bytes) -> None:
    _exercise(data)


@pytest.mark.parametrize("data", SMALL)
def test_unmutated_packets_pass_every_stage(data: bytes) -> None:
    packet = parse(data)
    validate_schema(safe_fromstring(data))
    check(packet, today=TODAY)
    assert parse(build(packet)) == packet
