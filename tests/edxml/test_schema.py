"""Tests for edxml/schema.py and the XSDs in schemas/."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from edxml.build import build
from edxml.errors import SchemaInvalid, WrongNamespace
from edxml.model import NAMESPACE
from edxml.parse import parse, safe_fromstring
from edxml.schema import is_status, validate_schema

NS = f"{{{NAMESPACE}}}"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
DC0 = "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
STATUS = "bkav-status_processing_05.edxml"
REAL = [
    DC0,
    "vpcp-sample-edoc_new.edxml",
    "bkav-edoc_new.edxml",
    "bkav-edoc_update.edxml",
    STATUS,
]


def _tree(real_dir: Path, name: str = DC0) -> etree._Element:
    return safe_fromstring((real_dir / name).read_bytes())


def _find(root: etree._Element, local: str) -> etree._Element:
    el = root.find(f".//{NS}{local}")
    assert el is not None, local
    return el


@pytest.mark.parametrize("name", REAL)
def test_real_packets_validate(real_dir: Path, name: str) -> None:
    validate_schema(_tree(real_dir, name))


@pytest.mark.parametrize("name", REAL)
def test_built_packets_validate(real_dir: Path, name: str) -> None:
    validate_schema(safe_fromstring(build(parse((real_dir / name).read_bytes()))))


def test_kind_detection(real_dir: Path) -> None:
    assert is_status(_tree(real_dir, STATUS))
    assert not is_status(_tree(real_dir, DC0))


@pytest.mark.parametrize(
    ("local", "value", "where"),
    [
        ("OrganId", "000.00.00.g22", "From/OrganId"),  # lower case
        ("OrganId", "A" * 36, "From/OrganId"),  # longer than 35
        ("BussinessDocType", "4", "BussinessDocType"),
        ("CodeNumber", "123456789012", "CodeNumber"),  # > 11
        ("CodeNotation", "", "CodeNotation"),  # required
        ("Subject", "x" * 501, "Subject"),
        ("OrganName", "x" * 201, "OrganName"),
        ("Telephone", "0" * 21, "Telephone"),
        ("Place", "x" * 51, "Place"),
        ("PromulgationDate", "11 April 2019", "PromulgationDate"),
        ("Timestamp", "yesterday", "Timestamp"),
        ("TyperNotation", "x" * 11, "TyperNotation"),
        ("Priority", "high", "Priority"),
    ],
)
def test_document_field_violations(real_dir: Path, local: str, value: str, where: str) -> None:
    root = _tree(real_dir)
    _find(root, local).text = value
    with pytest.raises(SchemaInvalid) as info:
        validate_schema(root)
    assert info.value.code == "EDXML_SCHEMA"
    assert info.value.path.endswith(where.split("/")[-1]), info.value.path
    assert info.value.text_vi.startswith("Gói tin không đúng lược đồ edXML")


@pytest.mark.parametrize("code", ["07", "12", "17", "5", "xx"])
def test_status_code_enum(real_dir: Path, code: str) -> None:
    root = _tree(real_dir, STATUS)
    _find(root, "StatusCode").text = code
    with pytest.raises(SchemaInvalid) as info:
        validate_schema(root)
    assert info.value.path.endswith("StatusCode")


@pytest.mark.parametrize("code", ["01", "02", "03", "04", "05", "06", "13", "14", "15", "16"])
def test_status_codes_accepted(real_dir: Path, code: str) -> None:
    root = _tree(real_dir, STATUS)
    _find(root, "StatusCode").text = code
    validate_schema(root)


def test_priority_range_is_left_to_rules(real_dir: Path) -> None:
    root = _tree(real_dir)
    _find(root, "Priority").text = "9"
    validate_schema(root)  # PriorityInvalid is raised by rules.check, with its own code


def test_order_free(real_dir: Path) -> None:
    root = _tree(real_dir)
    header = _find(root, "MessageHeader")
    children = list(header)
    for child in children:
        header.remove(child)
    for child in reversed(children):
        header.append(child)
    validate_schema(root)


def test_xmldsig_signature_allowed_in_header_and_root(real_dir: Path) -> None:
    root = _tree(real_dir)
    header = _find(root, "edXMLHeader")
    header.remove(_find(root, "Signature"))
    etree.SubElement(header, f"{{{DSIG}}}Signature").text = "x"
    etree.SubElement(root, f"{{{DSIG}}}Signature").text = "y"
    validate_schema(root)


def test_foreign_extension_allowed_unknown_edxml_element_refused(real_dir: Path) -> None:
    root = _tree(real_dir)
    etree.SubElement(_find(root, "OtherInfo"), "{urn:vendor}Extra").text = "ok"
    validate_schema(root)
    etree.SubElement(_find(root, "OtherInfo"), f"{NS}Unknown").text = "no"
    with pytest.raises(SchemaInvalid):
        validate_schema(root)


def test_status_refuses_document_fields(real_dir: Path) -> None:
    root = _tree(real_dir, STATUS)
    etree.SubElement(_find(root, "MessageHeader"), f"{NS}Subject").text = "x"
    with pytest.raises(SchemaInvalid):
        validate_schema(root)


def test_wrong_root() -> None:
    with pytest.raises(WrongNamespace):
        validate_schema(etree.fromstring(b"<edXML/>"))
    with pytest.raises(SchemaInvalid):
        validate_schema(etree.fromstring(f'<edXML xmlns="{NAMESPACE}"/>'.encode()))
