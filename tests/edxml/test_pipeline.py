"""Tests for edxml/pipeline.py: the whole check of a packet and its public stages."""

from __future__ import annotations

import base64
import io
import os
import zipfile
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from edxml.errors import WARN_SIGNATURE_UNVERIFIED, EdxmlError, NotWellFormed, SignatureAbsent
from edxml.model import NAMESPACE, Envelope, StatusMessage
from edxml.parse import parse
from edxml.pipeline import (
    STAGES,
    CheckResult,
    check_packet,
    stage_attachments,
    stage_parse,
    stage_rules,
    stage_schema,
    stage_verify,
)
from edxml.signature import sign
from tests.pki import make_ca, make_leaf

SAMPLE = "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
TODAY = date(2026, 1, 1)
NS = f"{{{NAMESPACE}}}"


@pytest.fixture(scope="module")
def pki() -> tuple:
    root = make_ca("Pipeline Root")
    return root, make_leaf(root, "Văn thư", "ec")


def test_real_packets_pass_under_legacy(real_dir: Path) -> None:
    for path in sorted(real_dir.glob("*.edxml")):
        data = path.read_bytes()
        result = check_packet(data, policy="legacy", trust_anchors=[], today=TODAY)
        assert isinstance(result, CheckResult)
        assert result.packet == parse(data), path.name
        assert result.verification.status == "unverified-legacy"
        assert WARN_SIGNATURE_UNVERIFIED in [w.code for w in result.warnings]
        if isinstance(result.packet, StatusMessage):
            assert result.attachments == ()
        else:
            assert [a.content_id for a in result.attachments] == ["cid:209"]
            assert result.attachments[0].files[0].name.endswith(".edxml")


def test_real_packet_refused_under_strict(real_dir: Path) -> None:
    with pytest.raises(SignatureAbsent) as info:
        check_packet((real_dir / SAMPLE).read_bytes(), policy="strict", trust_anchors=[])
    assert info.value.path.endswith("/Signature")


def test_signed_packet_passes_under_strict(real_dir: Path, pki: tuple) -> None:
    anchor, leaf = pki
    data = (real_dir / SAMPLE).read_bytes()
    signed = sign(data, leaf.key, leaf.chain, algorithm="ecdsa-sha256")
    result = check_packet(signed, policy="strict", trust_anchors=[anchor.cert], today=TODAY)
    assert result.verification.status == "verified"
    assert result.verification.algorithm == "ecdsa-sha256"
    assert WARN_SIGNATURE_UNVERIFIED not in [w.code for w in result.warnings]
    assert result.packet == parse(data)
    assert result.attachments[0].size == 4151


def test_stages_one_by_one_give_the_same_result(real_dir: Path, pki: tuple) -> None:
    anchor, leaf = pki
    signed = sign((real_dir / SAMPLE).read_bytes(), leaf.key, leaf.chain, algorithm="ecdsa-sha256")
    assert STAGES == ("parse", "schema", "verify", "rules", "attachments")
    root = stage_parse(signed)
    stage_schema(root)
    verification = stage_verify(root, "strict", [anchor.cert])
    warnings = stage_rules(verification.packet, TODAY)
    attachments = stage_attachments(verification.packet)
    whole = check_packet(signed, policy="strict", trust_anchors=[anchor.cert], today=TODAY)
    assert verification.packet == whole.packet
    assert tuple(warnings) == whole.warnings
    assert [a.sha256 for a in attachments] == [a.sha256 for a in whole.attachments]


def test_malformed_packet_has_a_document_level_path(malformed_dir: Path) -> None:
    data = (malformed_dir / "vpcp-template-edoc.edxml").read_bytes()
    with pytest.raises(NotWellFormed) as info:
        check_packet(data, policy="legacy", trust_anchors=[])
    assert info.value.path == "/"


def test_off_policy_still_checks_everything_else(real_dir: Path) -> None:
    data = (real_dir / SAMPLE).read_bytes()
    result = check_packet(data, policy="off", trust_anchors=[], today=TODAY)
    assert result.verification.status == "not-checked"
    assert WARN_SIGNATURE_UNVERIFIED not in [w.code for w in result.warnings]
    root = etree.fromstring(data)
    root.find(f".//{NS}ContentTransferEncoded").text = "%%%"
    with pytest.raises(EdxmlError) as info:
        check_packet(etree.tostring(root), policy="off", trust_anchors=[], today=TODAY)
    assert info.value.code == "ATTACHMENT_INVALID"


def test_signed_five_megabyte_packet(real_dir: Path, pki: tuple) -> None:
    anchor, leaf = pki
    payload = b"%PDF-1.7\n" + os.urandom(4 * 2**20)  # a real PDF header: content is sniffed
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("van-ban.pdf", payload)
    root = etree.fromstring((real_dir / SAMPLE).read_bytes())
    root.find(f".//{NS}ContentTransferEncoded").text = base64.b64encode(buf.getvalue()).decode()
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert len(data) > 5 * 10**6
    signed = sign(data, leaf.key, leaf.chain, algorithm="ecdsa-sha256")
    result = check_packet(signed, policy="strict", trust_anchors=[anchor.cert], today=TODAY)
    assert isinstance(result.packet, Envelope)
    (att,) = result.attachments
    assert att.files[0].size == len(payload)
