"""Every CLI command fails cleanly on an empty, uninitialised or unreachable store.

The commands are run through the real ``edoc-gateway`` Typer application against an empty
SQLite file (no tables), a SQLite path that cannot be opened, a PostgreSQL port nobody
listens on and a missing configuration file: each must exit non-zero with a bilingual
message carrying a stable code, and never print a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.commands.guard import classify, guarded
from gateway.errors import StoreError
from tests.services import free_port

runner = CliRunner()

# Commands that read the store without creating the schema first.
READERS = [
    ["audit", "verify"],
    ["audit", "show", "--agency", "000.00.00.G22"],
    ["audit", "show", "--message", "m1"],
    ["report", "activity", "--from", "2024-01-01", "--to", "2024-01-31"],
]
BACKUP = ["backup", "--to"]  # the directory is added per test
# Commands that open (and may initialise) the store: only an unreachable one stops them.
OPENERS = [
    ["deliveries", "parked"],
    ["deliveries", "replay", "--all"],
    ["directory", "show", "000.00.00.G22"],
    ["directory", "export"],
    ["directory", "changes"],
    ["directory", "inactive"],
    ["messages", "trace", "m1"],
]


def _invoke(args: list[str], store_url: str) -> tuple[int, str]:
    result = runner.invoke(app, args, env={"EDOC_STORE__URL": store_url})
    return result.exit_code, result.output + (result.stderr or "")


def _assert_clean(code: int, output: str, expected: str) -> None:
    assert code != 0, output
    assert "Traceback" not in output
    assert expected in output, output
    line = next(ln for ln in output.splitlines() if ln.startswith(expected))
    assert " / " in line  # Vietnamese / English


@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_empty_store_is_reported_as_not_initialised(tmp_path: Path, args: list[str]) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    code, output = _invoke(args, f"sqlite:///{empty}")
    _assert_clean(code, output, "STORE_NOT_INITIALISED")
    assert "chưa được khởi tạo" in output


@pytest.mark.parametrize("args", READERS + OPENERS, ids=" ".join)
def test_unopenable_sqlite_path_is_reported(tmp_path: Path, args: list[str]) -> None:
    code, output = _invoke(args, f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    _assert_clean(code, output, "STORE_UNREACHABLE")


@pytest.mark.parametrize("args", READERS + OPENERS, ids=" ".join)
def test_unreachable_postgres_is_reported(args: list[str]) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    code, output = _invoke(args, url)
    _assert_clean(code, output, "STORE_UNREACHABLE")
    assert "Không kết nối được" in output


def test_missing_configuration_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "verify", "--config", str(tmp_path / "none.toml")])
    assert result.exit_code == 2
    assert "CONFIG_NOT_FOUND" in result.output + (result.stderr or "")


def test_invalid_configuration_value_exits_2() -> None:
    result = runner.invoke(app, ["audit", "verify"], env={"EDOC_LISTEN__PORT": "not-a-port"})
    output = result.output + (result.stderr or "")
    assert result.exit_code == 2
    assert "CONFIG_INVALID" in output and "listen.port" in output
    assert "Traceback" not in output


def test_initialised_empty_store_still_works(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert _invoke(["directory", "export"], url)[0] == 0  # creates the schema
    code, output = _invoke(["audit", "verify"], url)
    assert code == 0, output
    assert "0 records" in output


def test_every_registered_command_is_guarded() -> None:
    def walk(typer_app):  # type: ignore[no-untyped-def]
        for command in typer_app.registered_commands:
            yield command.callback
        for group in typer_app.registered_groups:
            yield from walk(group.typer_instance)

    callbacks = list(walk(app))
    assert len(callbacks) > 10
    assert all(getattr(cb, "__edoc_guarded__", False) for cb in callbacks)


def test_unexpected_error_becomes_a_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    with pytest.raises(Exception) as caught:
        guarded(broken)()
    assert getattr(caught.value, "exit_code", None) == 1
    assert "COMMAND_FAILED" in capsys.readouterr().err


def test_store_error_keeps_its_words_when_not_a_connection_problem() -> None:
    failure = classify(StoreError("disk quota exceeded"))
    assert failure.code == "STORE_ERROR"
    assert "Lỗi lưu trữ" in failure.message_vi and "disk quota" in failure.message_en


def test_usage_errors_pass_through_as_typer_reports_them(tmp_path: Path) -> None:
    code, output = _invoke(["audit", "show"], f"sqlite:///{tmp_path / 'x.db'}")
    assert code == 2
    assert "give --message, --agency or --since" in output and "COMMAND_FAILED" not in output


@pytest.mark.parametrize("kind", ["empty", "missing", "unreachable"])
def test_backup_of_an_unusable_store_fails_cleanly(tmp_path: Path, kind: str) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    url = {
        "empty": f"sqlite:///{empty}",
        "missing": f"sqlite:///{tmp_path / 'nothing.db'}",
        "unreachable": f"postgresql://postgres@127.0.0.1:{free_port()}/nothing",
    }[kind]
    code, output = _invoke([*BACKUP, str(tmp_path / "bk")], url)
    _assert_clean(code, output, "BACKUP_FAILED")


def test_restore_from_a_directory_that_is_no_backup_fails_cleanly(tmp_path: Path) -> None:
    code, output = _invoke(["restore", "--from", str(tmp_path)], f"sqlite:///{tmp_path / 's.db'}")
    _assert_clean(code, output, "BACKUP_DAMAGED")


def test_a_missing_input_file_is_named_not_taken_for_the_store(tmp_path: Path) -> None:
    missing = tmp_path / "agencies.csv"
    code, output = _invoke(["directory", "import", str(missing)], f"sqlite:///{tmp_path / 's.db'}")
    _assert_clean(code, output, "FILE_UNREADABLE")
    assert str(missing) in output


def test_a_database_that_does_not_exist_is_unreachable(postgres_server) -> None:  # type: ignore[no-untyped-def]
    url = postgres_server.database_url("no_such_database")
    code, output = _invoke(["audit", "verify"], url)
    _assert_clean(code, output, "STORE_UNREACHABLE")
