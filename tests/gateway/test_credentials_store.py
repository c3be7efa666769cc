"""Tests of calling systems in the store: sealing, add/rotate/disable, overlap, refresh."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from gateway.audit.chain import verify_chain
from gateway.config import SystemSettings
from gateway.credentials.crypto import SecretBox, load_box, new_key_text
from gateway.credentials.live import SqlCallingSystems
from gateway.credentials.registry import (
    CredentialsKeyError,
    StaticSystems,
    SystemExists,
    SystemInvalid,
    SystemSpec,
    SystemUnknown,
    as_registry,
)
from gateway.credentials.store import SystemsStore
from gateway.store.database import create_engine, create_schema

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Clock:
    """A settable clock shared by the store and the registry."""

    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_text(new_key_text())


@pytest.fixture
async def store(store_url: str, box: SecretBox, clock: Clock):
    engine = create_engine(store_url)
    await create_schema(engine)
    yield SystemsStore(engine, box, clock=clock, overlap_days=7)
    await engine.dispose()


def spec(system_id: str = "QLVB-A", **fields) -> SystemSpec:
    return SystemSpec(system_id, agencies=("000.00.00.G22",), **fields)


def test_box_round_trip_binds_the_system_id(box: SecretBox) -> None:
    sealed = box.seal("QLVB-A", "một bí mật-ế")
    assert "một" not in sealed and box.open("QLVB-A", sealed) == "một bí mật-ế"
    with pytest.raises(CredentialsKeyError):
        box.open("QLVB-B", sealed)  # copied onto another system's row
    with pytest.raises(CredentialsKeyError):
        SecretBox.from_text(new_key_text()).open("QLVB-A", sealed)  # another key


def test_box_old_keys_still_open(box: SecretBox) -> None:
    old_text = new_key_text()
    sealed = SecretBox.from_text(old_text).seal("S", "secret-secret-secret")
    both = SecretBox.from_text(new_key_text() + "\n" + old_text)
    assert both.open("S", sealed) == "secret-secret-secret"
    assert both.seal("S", "x").split(":")[1] != sealed.split(":")[1]


def test_key_file_created_once_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "credentials.key"
    first = load_box(None, path)
    assert path.stat().st_mode & 0o777 == 0o600
    second = load_box(None, path)
    assert first.key_id == second.key_id
    with pytest.raises(CredentialsKeyError):
        load_box(None, tmp_path / "absent.key", create=False)
    with pytest.raises(CredentialsKeyError):
        load_box("not base64 at all!!", path)


async def test_add_generates_secret_shown_once_and_sealed(store: SystemsStore) -> None:
    issued = await store.add(spec(profile="strict", allowed_networks=("10.0.0.0/8",)))
    assert len(issued.secret) >= 40
    assert issued.secret not in repr(issued) and "secret" not in issued.system.as_dict()
    view = await store.show("QLVB-A")
    assert view.profile == "strict" and view.allowed_networks == ("10.0.0.0/8",)
    assert view.valid_secrets == 1 and view.enabled
    async with store.engine.connect() as conn:
        dump = " ".join(
            str(r) for r in (await conn.execute(text("SELECT * FROM system_secrets"))).all()
        )
        audit_text = " ".join(
            str(r) for r in (await conn.execute(text("SELECT * FROM audit_log"))).all()
        )
        assert not await verify_chain(conn)
    assert issued.secret not in dump and issued.secret not in audit_text
    assert "system.add" in audit_text
    with pytest.raises(SystemExists):
        await store.add(spec())
    with pytest.raises(SystemUnknown):
        await store.show("QLVB-NONE")


async def test_given_secret_and_invalid_fields(store: SystemsStore) -> None:
    issued = await store.add(spec("QLVB-B"), secret="given-secret-0123456789\n")
    assert issued.secret == "given-secret-0123456789"
    with pytest.raises(SystemInvalid):
        await store.add(spec("QLVB-C"), secret="short")
    with pytest.raises(SystemInvalid):
        spec("QLVB-D", profile="lenient")
    with pytest.raises(SystemInvalid):
        spec("QLVB-E", allowed_networks=("10.0.0.0/33",))


async def test_rotation_overlap_then_old_secret_stops(store: SystemsStore, clock: Clock) -> None:
    first = await store.add(spec())
    registry = SqlCallingSystems(clock=clock)
    await registry.start(store)
    try:
        assert registry.get("QLVB-A").secrets == (first.secret,)
        clock.advance(days=1)
        second = await store.rotate("QLVB-A", overlap_days=2)
        assert second.system.valid_secrets == 2
        assert second.system.previous_secret_expires_at == clock.at + timedelta(days=2)
        assert await registry.refresh()
        assert registry.get("QLVB-A").secrets == (second.secret, first.secret)
        assert registry.get("QLVB-A").secret.get_secret_value() == second.secret
        clock.advance(days=2, seconds=-1)
        assert first.secret in registry.get("QLVB-A").secrets
        clock.advance(seconds=1)  # end of the overlap: no store change needed
        assert registry.get("QLVB-A").secrets == (second.secret,)
        assert (await store.show("QLVB-A")).valid_secrets == 1
        # A rotation inside an overlap keeps at most two secrets: the oldest stops now.
        third = await store.rotate("QLVB-A")
        fourth = await store.rotate("QLVB-A")
        await registry.refresh()
        assert registry.get("QLVB-A").secrets == (fourth.secret, third.secret)
        assert (await store.show("QLVB-A")).previous_secret_expires_at == clock.at + timedelta(
            days=7
        )
    finally:
        await registry.close()


async def test_disable_enable_seen_by_registry(store: SystemsStore) -> None:
    await store.add(spec())
    registry = SqlCallingSystems()
    await registry.start(store)
    try:
        assert registry.get("QLVB-A").enabled
        await store.disable("QLVB-A", reason="test")
        assert not await registry.refresh() or not registry.get("QLVB-A").enabled
        assert not registry.get("QLVB-A").enabled
        await store.enable("QLVB-A")
        await registry.refresh()
        assert registry.get("QLVB-A").enabled
        await store.revoke("QLVB-A", actor="duty", reason="inactive")
        await registry.refresh()
        record = registry.get("QLVB-A")
        assert not record.enabled and record.secrets == ()
        assert registry.get("nobody") is None
    finally:
        await registry.close()


async def test_registry_polls_changes_made_elsewhere(store: SystemsStore) -> None:
    registry = SqlCallingSystems(poll_interval=0.05)
    await registry.start(store)
    try:
        issued = await store.add(spec("QLVB-LATE"))
        for _ in range(100):
            if registry.get("QLVB-LATE") is not None:
                break
            await asyncio.sleep(0.05)
        assert registry.get("QLVB-LATE").secrets == (issued.secret,)
    finally:
        await registry.close()


async def test_seed_on_first_start_only(store: SystemsStore) -> None:
    toml = [SystemSettings(id="SYS-1", secret=SecretStr("seed-secret-0123456789"), agencies=("A",))]
    assert await store.seed(toml) == 1
    assert await store.seed(toml) == 0
    await store.disable("SYS-1")
    changed = [SystemSettings(id="SYS-2", secret=SecretStr("other-secret-0123456789"))]
    assert await store.seed(changed) == 0  # the store, not the TOML, is the truth now
    assert [v.id for v in await store.list()] == ["SYS-1"]
    assert not (await store.show("SYS-1")).enabled


async def test_activity_and_idle(store: SystemsStore, clock: Clock) -> None:
    await store.add(spec("OLD"))
    await store.add(spec("BUSY"))
    registry = SqlCallingSystems(clock=clock)
    await registry.start(store)
    clock.advance(days=200)
    registry.note_activity("BUSY")
    assert await registry.flush_activity() == 1
    idle = await store.idle(clock.at - timedelta(days=180))
    assert [v.id for v in idle] == ["OLD"]
    await store.suspend("OLD", actor="duty", reason="inactive")
    assert [v.id for v in await store.suspended_before(clock.at + timedelta(seconds=1))] == ["OLD"]
    assert await store.suspended_before(clock.at) == []
    await registry.close()


def test_static_registry_from_settings() -> None:
    system = SystemSettings(id="S", secret=SecretStr("s3cret"), agencies=("A",), profile="strict")
    registry = as_registry([system])
    assert isinstance(registry, StaticSystems)
    record = registry.get("S")
    assert record.secrets == ("s3cret",) and record.profile == "strict" and record.enabled
    assert as_registry(registry) is registry
    assert "s3cret" not in repr(record)


def test_key_from_configuration_or_environment(monkeypatch, tmp_path: Path) -> None:
    from gateway.config import CredentialsSettings, StoreSettings

    monkeypatch.delenv("EDOC_CREDENTIALS_KEY", raising=False)
    settings = CredentialsSettings()
    assert settings.key_text() is None
    assert settings.key_path(StoreSettings(blob_dir=tmp_path / "blobs")) == (
        tmp_path / "credentials.key"
    )
    key = new_key_text()
    monkeypatch.setenv("EDOC_CREDENTIALS_KEY", key)
    box = load_box(CredentialsSettings().key_text(), tmp_path / "unused.key")
    assert not (tmp_path / "unused.key").exists()
    assert box.key_id == SecretBox.from_text(key).key_id
    configured = CredentialsSettings(key=SecretStr(new_key_text()))
    assert configured.key_text() != key  # the configuration wins over the variable
