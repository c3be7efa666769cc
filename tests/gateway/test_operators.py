"""Operator accounts: Argon2 hashes, login decisions, lock after failures, audit records;
and the ``edoc-gateway operators`` commands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gateway.audit import chain as audit
from gateway.cli import app as cli
from gateway.credentials import operators
from gateway.store.database import create_engine, create_schema

GOOD = "mật-khẩu-đủ-dài-2026"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    await create_schema(engine)
    yield engine
    await engine.dispose()


async def _events(engine: AsyncEngine) -> list[audit.Entry]:
    async with engine.connect() as conn:
        return await audit.entries(conn)


async def test_password_is_stored_as_an_argon2id_hash(engine: AsyncEngine) -> None:
    made = await operators.add(engine, "lan", "operator", GOOD, actor="test")
    assert made.role == "operator" and not made.disabled
    async with engine.connect() as conn:
        stored = await conn.scalar(select(operators.OperatorRow.password_hash))
    assert stored.startswith("$argon2id$") and GOOD not in stored
    assert (await _events(engine))[-1].event == "operator.added"


async def test_login_decisions_are_audited_once_each(engine: AsyncEngine) -> None:
    await operators.add(engine, "lan", "auditor", GOOD, actor="test")
    ok = await operators.login(engine, "lan", GOOD, remote="127.0.0.1")
    assert ok.last_login_at is not None
    with pytest.raises(operators.LoginFailed) as wrong:
        await operators.login(engine, "lan", "sai-mat-khau-roi", remote="127.0.0.1")
    assert wrong.value.code == "CONSOLE_LOGIN_FAILED"
    with pytest.raises(operators.LoginFailed) as unknown:
        await operators.login(engine, "nobody", GOOD, remote="127.0.0.1")
    assert type(unknown.value) is operators.LoginFailed
    logins = [e for e in await _events(engine) if e.event == "console.login"]
    assert [(e.actor, e.outcome) for e in logins] == [
        ("console:lan", "ok"),
        ("console:lan", "CONSOLE_LOGIN_FAILED"),
        (None, "CONSOLE_LOGIN_FAILED"),  # an unknown name is never an actor
    ]


async def test_repeated_failures_lock_the_account_until_a_new_password(
    engine: AsyncEngine,
) -> None:
    await operators.add(engine, "minh", "admin", GOOD, actor="test")
    for _ in range(operators.LOCK_AFTER - 1):
        with pytest.raises(operators.LoginFailed) as failed:
            await operators.login(engine, "minh", "wrong-password", remote=None)
        assert type(failed.value) is operators.LoginFailed
    with pytest.raises(operators.AccountLocked):
        await operators.login(engine, "minh", "wrong-password", remote=None)
    with pytest.raises(operators.AccountLocked):  # even the right password, while locked
        await operators.login(engine, "minh", GOOD, remote=None)
    locked = await operators.get(engine, "minh")
    assert locked is not None and locked.locked_until is not None
    assert locked.locked_until > datetime.now(UTC)
    await operators.set_password(engine, "minh", "mot-mat-khau-moi", actor="test")
    assert (await operators.login(engine, "minh", "mot-mat-khau-moi", remote=None)).name == "minh"


async def test_disabled_accounts_and_invalid_input_are_refused(engine: AsyncEngine) -> None:
    await operators.add(engine, "hoa", "operator", GOOD, actor="test")
    await operators.disable(engine, "hoa", actor="test")
    with pytest.raises(operators.LoginFailed):
        await operators.login(engine, "hoa", GOOD, remote=None)
    with pytest.raises(operators.OperatorRefused, match="exists"):
        await operators.add(engine, "hoa", "operator", GOOD, actor="test")
    with pytest.raises(operators.OperatorRefused, match="role"):
        await operators.add(engine, "an", "root", GOOD, actor="test")
    with pytest.raises(operators.OperatorRefused, match="shorter"):
        await operators.add(engine, "an", "admin", "short", actor="test")
    with pytest.raises(operators.OperatorRefused, match="name"):
        await operators.add(engine, "an có dấu cách", "admin", GOOD, actor="test")


def test_operators_commands_take_config_and_password_stdin(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n', encoding="utf-8")
    runner = CliRunner()
    added = runner.invoke(
        cli,
        ["operators", "add", "admin", "--role", "admin", "--password-stdin", "-c", str(config)],
        input=GOOD + "\n",
    )
    assert added.exit_code == 0, added.output
    again = runner.invoke(
        cli,
        ["operators", "add", "admin", "--role", "admin", "--password-stdin", "-c", str(config)],
        input=GOOD + "\n",
    )
    assert again.exit_code == 1 and "OPERATOR_REFUSED" in again.output
    changed = runner.invoke(
        cli,
        ["operators", "passwd", "admin", "--password-stdin", "--config", str(config)],
        input="mat-khau-thu-hai\n",
    )
    assert changed.exit_code == 0, changed.output
    disabled = runner.invoke(cli, ["operators", "disable", "admin", "--config", str(config)])
    assert disabled.exit_code == 0, disabled.output
    listed = runner.invoke(cli, ["operators", "list", "--config", str(config)])
    assert "admin\tadmin\tdisabled" in listed.output
