"""`edoc-gateway validate --document-trust PEM --scan URL --json`, as a real subprocess."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from edxml.build import build, new_document
from edxml.model import Attachment, Code, Organization
from tests.pdf_pki import RevocableCA, RevocationServer, blank_pdf, sign_pdf
from tests.services import EICAR, EICAR_SIGNATURE, Clamd


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def packet_file(tmp: Path, name: str, ctype: str, data: bytes) -> Path:
    envelope = new_document(
        sender=Organization(organ_id="000.00.00.G22"),
        to=[Organization(organ_id="000.00.00.H41")],
        code=Code("3", "VPCP"),
        subject="Thử kiểm tra",
        promulgation_date=date(2026, 1, 5),
        attachments=[Attachment("cid:1", name, None, ctype, base64.b64encode(data).decode())],
    )
    path = tmp / "packet.edxml"
    path.write_bytes(build(envelope))
    return path


@pytest.fixture(scope="module")
def server() -> Iterator[RevocationServer]:
    with RevocationServer() as running:
        yield running


def test_pdf_signature_report_offline(tmp_path: Path, server: RevocationServer) -> None:
    ca = RevocableCA("Document CA", server)
    anchors = tmp_path / "doc-ca.pem"
    anchors.write_bytes(ca.cert_pem)
    pdf = sign_pdf(blank_pdf(), ca.issue("Nguyễn Văn A", organization="VPCP"))
    path = packet_file(tmp_path, "qd.pdf", "application/pdf", pdf)
    done = run_cli("validate", path, "--document-trust", anchors, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    (att,) = json.loads(done.stdout)["attachments"]
    (sig,) = att["pdf_signatures"]
    assert sig["status"] == "valid" and sig["signer"] == "Nguyễn Văn A"
    assert sig["revocation"] == "not_checked"  # offline by default
    done = run_cli("validate", path, "--json")  # no document anchors: indeterminate
    assert json.loads(done.stdout)["attachments"][0]["pdf_signatures"][0]["status"] == (
        "indeterminate"
    )
    human = run_cli("validate", path, "--document-trust", anchors, "--revocation", "soft")
    assert "PDF signature: valid (Nguyễn Văn A; revocation good" in human.stdout


def test_scan_offline_with_a_real_clamd(tmp_path: Path, clamd: Clamd) -> None:
    path = packet_file(tmp_path, "ghichu.txt", "text/plain", EICAR)
    done = run_cli("validate", path, "--scan", clamd.tcp_url, "--json")
    assert done.returncode == 1
    (error,) = json.loads(done.stdout)["errors"]
    assert error["code"] == "ATTACHMENT_MALWARE" and EICAR_SIGNATURE in error["message_en"]
    clean = packet_file(tmp_path, "ghichu.txt", "text/plain", "sạch".encode())
    done = run_cli("validate", clean, "--scan", clamd.unix_url, "--json")
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["attachments"][0]["scan"] == "clean"
