"""Tests of `edoc-gateway directory ...` commands against a real SQLite store."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.commands.directory import app
from gateway.logging import configure_logging

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "directory.sample.csv"
runner = CliRunner()


@pytest.fixture(autouse=True)
def logs() -> Iterator[io.StringIO]:
    """Send structured logs aside so standard output carries only the command's JSON."""
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    yield stream
    configure_logging("info")


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_cli_import_resolve_lifecycle_and_export(tmp_path: Path, logs: io.StringIO) -> None:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    code, out = run("import", str(SAMPLE), "--store", store, "--actor", "alice")
    assert code == 0 and json.loads(out)["added"] == 96
    assert '"actor": "alice"' in logs.getvalue()

    code, out = run("import", str(SAMPLE), "--store", store, "--dry-run")
    assert code == 0 and json.loads(out)["unchanged"] == 96

    code, out = run("resolve", "H41.02", "--store", store)
    assert code == 0 and json.loads(out)["agency"]["code"] == "000.02.41.H41"

    code, out = run("merge", "000.00.00.H01", "--into", "000.00.00.H02", "--store", store)
    assert code == 0
    code, out = run("resolve", "000.00.00.H01", "--store", store)
    assert json.loads(out)["via"] == ["000.00.00.H01"]

    code, out = run(
        "set-endpoint",
        "000.00.00.H02",
        "--kind",
        "push",
        "--url",
        "https://qlvb.example/in",
        "--store",
        store,
    )
    assert code == 0 and json.loads(out)["endpoint_url"] == "https://qlvb.example/in"
    code, out = run("bind-system", "000.00.00.H02", "qlvb-brvt", "--store", store)
    assert json.loads(out)["systems"] == ["qlvb-brvt"]

    code, out = run(
        "retire",
        "000.00.00.H03",
        "--successor",
        "000.00.00.H02",
        "--effective",
        "2025-07-01",
        "--store",
        store,
        "--reason",
        "sáp nhập",
    )
    assert code == 0 and json.loads(out)["status"] == "dissolved"
    code, out = run("resolve", "000.00.00.H03", "--store", store)
    assert code == 1  # refused, naming the successor

    code, out = run("suspend", "000.00.00.H04", "--store", store)
    assert json.loads(out) == ["000.00.00.H04"]
    code, out = run("inactive", "--days", "180", "--store", store)
    assert code == 0 and json.loads(out)["count"] == 0  # everything was created just now

    code, out = run("show", "000.00.00.H02", "--store", store)
    shown = json.loads(out)
    assert [c["action"] for c in shown["changes"]][:2] == ["bind-system", "set-endpoint"]
    assert "systems" not in shown["changes"][0]["before"]
    assert shown["changes"][0]["after"]["systems"] == ["qlvb-brvt"]

    target = tmp_path / "out.json"
    code, _ = run("export", "--format", "json", "--output", str(target), "--store", store)
    exported = {r["code"]: r for r in json.loads(target.read_text(encoding="utf-8"))}
    assert exported["000.00.00.H01"]["successors"] == ["000.00.00.H02"]
    assert exported["000.00.00.H04"]["status"] == "suspended"

    code, out = run("changes", "--code", "000.00.00.H03", "--store", store)
    assert json.loads(out)[0]["reason"] == "sáp nhập"


def test_cli_refusals_exit_non_zero(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\nA,x\nA,y\n", encoding="utf-8")
    code, _ = run("import", str(bad), "--store", store)
    assert code == 1
    code, _ = run("resolve", "000.00.00.G22", "--store", store)
    assert code == 1
    code, _ = run("show", "NOPE", "--store", store)
    assert code == 1


def test_cli_accepts_from_closes_and_opens_an_agency(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run("import", str(SAMPLE), "--store", store)[0] == 0
    code, out = run("accepts-from", "000.00.00.H02", "000.00.00.g22", "000.01.", "--store", store)
    assert code == 0 and json.loads(out)["accepts_from"] == ["000.00.00.G22", "000.01."]
    code, out = run("show", "000.00.00.H02", "--store", store)
    assert code == 0 and json.loads(out)["accepts_from"] == ["000.00.00.G22", "000.01."]
    code, out = run("accepts-from", "000.00.00.H02", "--store", store)  # everyone again
    assert code == 0 and json.loads(out)["accepts_from"] == []
