"""Tests of `edoc-gateway systems ...`, `duties ...`, `directory sync` and `deliveries list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.ops.metrics import DIRECTORY_LAST_SYNC


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/g.db"\nblob_dir = "{tmp_path}/blobs"\n'
        "[credentials]\noverlap_days = 3\n",
        encoding="utf-8",
    )
    return path


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def test_add_prints_a_generated_secret_once(config: Path) -> None:
    added = run(
        "systems", "add", "QLVB-1", "--agencies", "A, B", "--allowed-networks", "10.0.0.0/8",
        "--pdf-signatures", "require", "--signer-binding", "warn", "-c", str(config),
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    body = json.loads(added.stdout)
    assert body["system"]["agencies"] == ["A", "B"] and body["system"]["profile"] == "sdk"
    assert body["system"]["allowed_networks"] == ["10.0.0.0/8"]
    assert body["system"]["pdf_signatures"] == "require"
    assert body["system"]["signer_binding"] == "warn"
    assert len(body["secret"]) >= 40
    listed = run("systems", "list", "-c", str(config))
    shown = run("systems", "show", "QLVB-1", "-c", str(config))
    assert body["secret"] not in listed.stdout + shown.stdout
    assert json.loads(shown.stdout)["valid_secrets"] == 1
    assert (config.parent / "credentials.key").is_file()


def test_secret_from_stdin_and_rotation(config: Path) -> None:
    added = run(
        "systems", "add", "QLVB-2", "--agencies", "A", "--profile", "strict", "--secret-stdin",
        "-c", str(config), stdin="stdin-secret-0123456789\n",
    )  # fmt: skip
    assert json.loads(added.stdout)["secret"] == "stdin-secret-0123456789"
    rotated = run("systems", "rotate", "QLVB-2", "-c", str(config))
    view = json.loads(rotated.stdout)["system"]
    assert view["valid_secrets"] == 2 and view["previous_secret_expires_at"]
    assert run("systems", "disable", "QLVB-2", "-c", str(config)).exit_code == 0
    shown = json.loads(run("systems", "show", "QLVB-2", "-c", str(config)).stdout)
    assert shown["status"] == "disabled" and shown["valid_secrets"] == 0
    assert run("systems", "enable", "QLVB-2", "-c", str(config)).exit_code == 0


def test_refusals_are_bilingual_without_traceback(config: Path) -> None:
    unknown = run("systems", "show", "NOBODY", "-c", str(config))
    assert unknown.exit_code == 1 and "SYSTEM_UNKNOWN" in unknown.stderr
    assert "Không có hệ thống gọi này" in unknown.stderr and "Traceback" not in unknown.output
    bad = run("systems", "add", "X", "--agencies", "A", "--profile", "loose", "-c", str(config))
    assert bad.exit_code == 1 and "SYSTEM_INVALID" in bad.stderr
    empty = run("systems", "add", "Y", "--agencies", "A", "--secret-stdin", "-c", str(config))
    assert empty.exit_code == 1 and "stdin" in empty.stderr
    missing = run("systems", "list", "-c", str(config.parent / "absent.toml"))
    assert missing.exit_code == 1 and "CONFIG_INVALID" in missing.stderr


def test_duties_run_and_list(config: Path) -> None:
    ran = run("duties", "run", "audit-verify", "-c", str(config))
    assert ran.exit_code == 0 and "chain intact" in ran.stdout
    unknown = run("duties", "run", "nothing", "-c", str(config))
    assert unknown.exit_code == 1 and "DUTY_UNKNOWN" in unknown.stderr
    unavailable = run("duties", "run", "directory-sync", "-c", str(config))
    assert unavailable.exit_code == 1 and "DUTY_UNAVAILABLE" in unavailable.stderr
    rows = json.loads(run("duties", "list", "--json", "-c", str(config)).stdout)
    names = [r["name"] for r in rows]
    assert names == ["directory-sync", "inactivity", "certificates", "audit-verify", "outbox-sweep"]
    audit_row = rows[names.index("audit-verify")]
    assert audit_row["last_ok"] is True and audit_row["runs"] == 1


def test_directory_sync_command(config: Path, tmp_path: Path) -> None:
    source = tmp_path / "agencies.json"
    source.write_text(
        json.dumps({"data": [{"code": "000.00.00.G22", "name": "Văn phòng Chính phủ"}]}),
        encoding="utf-8",
    )
    before = DIRECTORY_LAST_SYNC._value.get()
    synced = run("directory", "sync", "--source", str(source), "-c", str(config))
    assert synced.exit_code == 0, synced.output
    assert "added=1" in synced.stdout
    assert DIRECTORY_LAST_SYNC._value.get() > before
    shown = run("directory", "show", "000.00.00.G22", "-c", str(config))
    assert "Văn phòng Chính phủ" in shown.stdout


def test_deliveries_list_parked(config: Path) -> None:
    listed = run("deliveries", "list", "--parked", "-c", str(config))
    assert listed.exit_code == 0 and "0 parked deliveries" in listed.stdout
    assert run("deliveries", "list", "-c", str(config)).exit_code == 2
