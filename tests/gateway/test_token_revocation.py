"""Revoking one bearer token: stored, seen by every registry, refused as ``AUTH_FAILED``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.audit import chain as audit
from gateway.cli import app
from gateway.config import AdminSettings, LimitsSettings, load_settings
from gateway.credentials.auth import Authenticator, Caller
from gateway.credentials.live import SqlCallingSystems
from gateway.credentials.setup import open_systems_store
from gateway.credentials.tokens import TokenName, parse_token, revoke_token
from gateway.errors import AuthError
from gateway.store.database import create_engine, create_schema

SECRET = "bi-mat-kiem-thu-0123456789abcdef"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/g.db"\nblob_dir = "{tmp_path}/blobs"\n',
        encoding="utf-8",
    )
    return path


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


async def arun(*args: str, stdin: str | None = None):
    """The CLI from an async test: its own thread (it runs its own event loop)."""
    return await asyncio.to_thread(run, *args, stdin=stdin)


def test_token_names() -> None:
    name = parse_token("edt1.sys.with.dots.1796000000.0123abcd.mac")
    assert name == TokenName("sys.with.dots", "0123abcd", name.expires_at if name else None)
    assert name is not None and name.expires_at is not None
    assert parse_token("not-a-token") is None
    assert parse_token("edt1.sys.１２.id.mac") is None  # full-width digits: not a token


async def test_a_revoked_token_is_refused_by_every_registry(config: Path) -> None:
    added = await arun("systems", "add", "QLVB-T", "--agencies", "A", "--secret-stdin",
                "-c", str(config), stdin=SECRET + "\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    settings = load_settings(config)
    engine = create_engine(settings.store.url)
    await create_schema(engine)
    one, other = SqlCallingSystems(), SqlCallingSystems()  # two gateway processes
    try:
        store = await open_systems_store(settings, engine)
        await one.start(store)
        await other.start(store)
        limits = LimitsSettings()
        auth = Authenticator(one, limits, AdminSettings())
        elsewhere = Authenticator(other, limits, AdminSettings())
        caller = Caller("QLVB-T", frozenset({"A"}))
        token, _ = auth.issue_token(caller)
        kept, _ = auth.issue_token(caller)
        assert elsewhere.check_token(token).system_id == "QLVB-T"

        revoked = await arun("systems", "revoke-token", token, "--reason", "lộ", "-c", str(config))
        assert revoked.exit_code == 0, revoked.output
        assert json.loads(revoked.stdout)["revoked"] is True
        name = parse_token(token)
        assert name is not None
        again = await arun("systems", "revoke-token", name.token_id, "--system", "QLVB-T",
                    "-c", str(config))  # fmt: skip
        assert json.loads(again.stdout)["revoked"] is False  # once is enough

        for registry, authenticator in ((one, auth), (other, elsewhere)):
            assert await registry.refresh()  # what the poll does within a second
            with pytest.raises(AuthError) as refused:
                authenticator.check_token(token)
            assert refused.value.code == "AUTH_FAILED"
            assert authenticator.check_token(kept).system_id == "QLVB-T"  # only that one

        async with engine.connect() as conn:
            records = [e for e in await audit.entries(conn) if e.event == "token.revoke"]
        assert [(r.actor, r.detail["token_id"]) for r in records if r.detail] == [
            ("cli", name.token_id)
        ]
    finally:
        await one.close()
        await other.close()
        await engine.dispose()


async def test_revoking_for_an_unknown_system_is_refused(config: Path) -> None:
    settings = load_settings(config)
    engine = create_engine(settings.store.url)
    await create_schema(engine)
    try:
        with pytest.raises(Exception) as refused:
            await revoke_token(engine, TokenName("NOBODY", "abcd"), actor="t", token_ttl_s=60)
        assert getattr(refused.value, "code", "") == "SYSTEM_UNKNOWN"
    finally:
        await engine.dispose()
    cli = await arun("systems", "revoke-token", "abcd", "-c", str(config))
    assert cli.exit_code == 1 and "SYSTEM_INVALID" in cli.output
