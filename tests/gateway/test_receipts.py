"""Tests of gateway.core.receipts: JSON form and the node-signed XML receipt (real xmlsec1)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from gateway.core.calendar import VIETNAM
from gateway.core.receipts import RECEIPT_NS, Receipt, load_node_identity, signed_receipt_xml
from tests.pki import make_ca, make_leaf, write_pems

RECEIPT = Receipt(
    message_id="0f" * 16,
    kind="document",
    document_id="000.00.00.G22,2026/03/04,12/VPCP-TH",
    sender="000.00.00.G22",
    content_sha256="ab" * 32,
    accepted_at=datetime(2026, 3, 6, 11, 30, tzinfo=UTC),
    legal_receipt_at=datetime(2026, 3, 9, 8, 0, tzinfo=VIETNAM),
    signature={"status": "verified", "signer": "CN=Văn phòng", "algorithm": "rsa-sha256"},
    recipients=({"code": "000.00.00.H41", "resolved_code": "000.00.00.H41", "state": "pending"},),
    node="000.00.00.G22",
)


def test_json_round_trip() -> None:
    data = RECEIPT.as_dict()
    assert data["legal_receipt_at"] == "2026-03-09T08:00:00+07:00"
    assert Receipt.from_dict(data) == RECEIPT


def test_with_states_marks_duplicate() -> None:
    again = RECEIPT.with_states({"000.00.00.H41": "delivered"}, duplicate=True)
    assert again.duplicate and again.recipients[0]["state"] == "delivered"
    assert RECEIPT.recipients[0]["state"] == "pending"


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_xml_receipt_verifies_with_xmlsec1(tmp_path: Path, key_type: str) -> None:
    assert shutil.which("xmlsec1"), "xmlsec1 (Debian package) is required"
    ca = make_ca("Test Root CA", key_type)
    node = make_leaf(ca, "edoc node", key_type)
    paths = write_pems(tmp_path, ca=ca, node=node)
    identity = load_node_identity("000.00.00.G22", paths["node.key"], paths["node.chain"])
    signed = signed_receipt_xml(RECEIPT, identity)
    root = etree.fromstring(signed)
    assert root.findtext(f"{{{RECEIPT_NS}}}MessageId") == RECEIPT.message_id
    assert root.findtext(f"{{{RECEIPT_NS}}}LegalReceiptAt") == "2026-03-09T08:00:00+07:00"
    receipt_file = tmp_path / "receipt.xml"
    receipt_file.write_bytes(signed)
    ok = subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(paths["ca.cert"]), str(receipt_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(signed.replace(RECEIPT.content_sha256.encode(), b"cd" * 32))
    bad = subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(paths["ca.cert"]), str(tampered)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0
