"""`edoc-gateway validate` and `edoc-gateway sign`, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance import (
    OWN_DIR,
    OWN_DOCUMENT,
    OWN_MALFORMED_DIR,
    OWN_MALFORMED_NAMES,
    OWN_NAMES,
    OWN_STATUS,
    THIRD_PARTY_MALFORMED,
    THIRD_PARTY_REAL,
    third_party_real_dir,
)
from tests.pki import make_ca, make_leaf

DC0 = "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
# The project's own packets always, the third-party samples (read in place) when present.
PACKETS = [OWN_DIR / name for name in OWN_NAMES] + sorted(THIRD_PARTY_REAL.glob("*.edxml"))
MALFORMED = (
    THIRD_PARTY_MALFORMED / "vpcp-template-edoc.edxml"
    if (THIRD_PARTY_MALFORMED / "vpcp-template-edoc.edxml").is_file()
    else OWN_MALFORMED_DIR / OWN_MALFORMED_NAMES[0]
)
SAMPLE = OWN_DIR / OWN_DOCUMENT


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("path", PACKETS, ids=lambda p: p.name)
def test_real_packets_are_accepted_under_legacy(path: Path) -> None:
    done = run_cli("validate", path, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] is True
    assert summary["errors"] == []
    assert summary["signature"]["status"] == "unverified-legacy"
    assert set(summary) >= {
        "ok",
        "kind",
        "document_id",
        "from",
        "to",
        "status_code",
        "signature",
        "attachments",
        "errors",
        "warnings",
    }


def test_json_summary_carries_own_packet_values() -> None:
    summary = json.loads(run_cli("validate", SAMPLE, "--json").stdout)
    assert summary["kind"] == "document"
    assert summary["from"] == "000.00.00.G22"
    assert summary["to"] == ["000.00.00.H41", "000.00.00.H14"]
    assert summary["document_id"] == "000.00.00.G22,2025/03/17,215/VPCP-KSTT"
    assert summary["attachments"][0]["name"] == "cong-van-215.doc"


def test_json_summary_carries_values() -> None:
    summary = json.loads(run_cli("validate", third_party_real_dir() / DC0, "--json").stdout)
    assert summary["kind"] == "document"
    assert summary["from"] == "000.00.00.G22"
    assert summary["to"] == ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"]
    assert summary["document_id"] == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert summary["attachments"][0]["name"] == "1896_QD-TTg_m_294779.doc"
    assert len(summary["attachments"][0]["sha256"]) == 64


def test_status_packet_reports_its_code() -> None:
    summary = json.loads(run_cli("validate", OWN_DIR / OWN_STATUS, "--json").stdout)
    assert summary["kind"] == "status"
    assert summary["status_code"] == "05"


def test_malformed_packet_is_refused_without_traceback() -> None:
    done = run_cli("validate", MALFORMED, "--json")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] is False
    error = summary["errors"][0]
    assert error["code"] == "EDXML_NOT_WELL_FORMED"
    assert error["message_vi"] and error["message_en"]


def test_strict_policy_refuses_unsigned_wire_packet() -> None:
    done = run_cli("validate", SAMPLE, "--policy", "strict", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["errors"][0]["code"].startswith("SIGNATURE_")


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_sign_then_validate_strict(tmp_path: Path, key_type: str) -> None:
    ca = make_ca("Test Root CA", key_type)  # type: ignore[arg-type]
    signer = make_leaf(ca, "Văn thư UBND tỉnh", key_type)  # type: ignore[arg-type]
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "signer.key").write_bytes(signer.key_pem)
    (tmp_path / "signer.pem").write_bytes(signer.chain_pem)
    out = tmp_path / "signed.edxml"

    done = run_cli(
        "sign",
        SAMPLE,
        "--key",
        tmp_path / "signer.key",
        "--cert",
        tmp_path / "signer.pem",
        "-o",
        out,
    )
    assert done.returncode == 0, done.stderr

    ok = run_cli("validate", out, "--policy", "strict", "--trust", tmp_path / "ca.pem", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["signature"]["status"] == "verified"

    tampered = out.read_bytes().replace(b"/VPCP-", b"/VPCQ-", 1)
    (tmp_path / "tampered.edxml").write_bytes(tampered)
    bad = run_cli(
        "validate",
        tmp_path / "tampered.edxml",
        "--policy",
        "strict",
        "--trust",
        tmp_path / "ca.pem",
    )
    assert bad.returncode == 1
    assert "SIGNATURE_INVALID" in bad.stdout


def test_unreadable_file_is_a_clean_error(tmp_path: Path) -> None:
    done = run_cli("validate", tmp_path / "missing.edxml")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "cannot read input" in done.stderr
