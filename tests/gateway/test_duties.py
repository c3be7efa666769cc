"""Tests of the scheduled duties: leases decided in the store, results, the inactivity rule."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from gateway.config import load_settings
from gateway.credentials.crypto import SecretBox, new_key_text
from gateway.credentials.live import SqlCallingSystems
from gateway.credentials.registry import SystemSpec
from gateway.credentials.store import SystemsStore
from gateway.ops.duties import Duty, DutyLeases, Scheduler, duties_check, run_duty
from gateway.ops.duties_builtin import (
    AUDIT_CHAIN_OK,
    apply_inactivity,
    build_duties,
    directory_source,
    months_before,
    verify_audit,
)
from gateway.ops.metrics import DIRECTORY_LAST_SYNC
from gateway.store.database import create_engine, create_schema

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
async def engine(store_url: str):
    # As the application opens SQLite: one pooled connection, transactions queue in the pool.
    single = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 120}
    engine = create_engine(store_url, **(single if store_url.startswith("sqlite") else {}))
    await create_schema(engine)
    yield engine
    await engine.dispose()


def counting(name: str, interval_s: float, runs: list[str], *, fail: bool = False) -> Duty:
    async def job() -> str:
        runs.append(name)
        if fail:
            raise RuntimeError("boom")
        return f"run {len(runs)}"

    return Duty(name, interval_s, job)


async def settle(*schedulers: Scheduler) -> None:
    for _ in range(50):
        if not any(s._running for s in schedulers):
            return
        await asyncio.sleep(0.02)


async def test_two_schedulers_one_run_per_interval(engine) -> None:
    clock = Clock()
    runs: list[str] = []
    duty = counting("sweep", 60, runs)
    a = Scheduler(engine, [duty], owner="a", clock=clock)
    b = Scheduler(engine, [duty], owner="b", clock=clock)
    for _ in range(5):  # both tick repeatedly within one interval
        started = await asyncio.gather(a.tick(), b.tick())
        await settle(a, b)
        assert sum(len(s) for s in started) <= 1
    assert runs == ["sweep"]
    clock.advance(seconds=59)
    await asyncio.gather(a.tick(), b.tick())
    await settle(a, b)
    assert runs == ["sweep"]
    clock.advance(seconds=1)
    await asyncio.gather(b.tick(), a.tick())
    await settle(a, b)
    assert runs == ["sweep", "sweep"]
    state = (await DutyLeases(engine).states())["sweep"]
    assert state.runs == 2 and state.last_ok and state.last_result == "run 2"
    assert state.next_due_at == clock.at + timedelta(seconds=60)
    await a.tick()
    assert "sweep: ok (run 2)" in a.detail()


async def test_concurrent_claims_only_one_wins(engine) -> None:
    clock = Clock()
    duty = counting("x", 30, [])
    leases = DutyLeases(engine, clock=clock)
    await leases.ensure([duty])
    wins = await asyncio.gather(*(leases.claim(duty, f"p{i}") for i in range(8)))
    assert sum(wins) == 1


async def test_failure_is_the_result_and_stale_lease_is_taken_over(engine) -> None:
    clock = Clock()
    runs: list[str] = []
    duty = counting("bad", 30, runs, fail=True)
    leases = DutyLeases(engine, clock=clock)
    ok, result = await run_duty(duty, leases, "cli")
    assert not ok and "boom" in result
    state = (await leases.states())["bad"]
    assert state.last_ok is False and state.runs == 1
    # A runner that died holds the lease until it ends (60 s minimum), then another takes it.
    assert await leases.claim(duty, "dead")
    clock.advance(seconds=30)
    assert not await leases.claim(duty, "alive")
    clock.advance(seconds=31)
    assert await leases.claim(duty, "alive")


async def test_clean_stop_hands_the_run_back(engine) -> None:
    clock = Clock()
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "done"

    duty = Duty("slow", 3600, slow)
    a = Scheduler(engine, [duty], owner="a", clock=clock)
    assert await a.tick() == ["slow"]
    await a.close()
    b = Scheduler(engine, [duty], owner="b", clock=clock)
    assert await b.tick() == ["slow"]
    gate.set()
    await settle(b)
    assert (await DutyLeases(engine).states())["slow"].owner == "b"


async def test_audit_verify_duty(engine) -> None:
    assert await verify_audit(engine) == "chain intact"


def test_months_before_clamps_the_day() -> None:
    assert months_before(datetime(2026, 8, 31, tzinfo=UTC), 6) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 3, 15, tzinfo=UTC), 6) == datetime(2025, 9, 15, tzinfo=UTC)


async def test_inactivity_suspends_then_revokes(engine) -> None:
    clock = Clock()
    store = SystemsStore(engine, SecretBox.from_text(new_key_text()), clock=clock)
    for name in ("IDLE", "SENDER", "ADDRESSED"):
        await store.add(SystemSpec(name, agencies=(f"A-{name}",)))
    registry = SqlCallingSystems(clock=clock)
    await registry.start(store)
    clock.advance(days=100)
    registry.note_activity("SENDER")  # sent or fetched; ADDRESSED only received documents
    clock.advance(days=90)
    result = await apply_inactivity(
        store, months=6, revoke_after_days=15, clock=clock, flush=registry.flush_activity
    )
    assert sorted(result.suspended) == ["ADDRESSED", "IDLE"] and result.revoked == ()
    await registry.refresh()
    assert not registry.get("IDLE").enabled and registry.get("SENDER").enabled
    clock.advance(days=14)
    assert (
        await apply_inactivity(store, months=6, revoke_after_days=15, clock=clock)
    ).revoked == ()
    await store.enable("ADDRESSED")  # an operator brought it back
    clock.advance(days=2)
    again = await apply_inactivity(store, months=6, revoke_after_days=15, clock=clock)
    assert again.revoked == ("IDLE",)
    assert again.suspended == ()  # re-enabled: idle time counts from the re-enabling
    await registry.refresh()
    assert registry.get("IDLE").secrets == ()
    await registry.close()


async def test_directory_sync_duty_and_cluster_wide_metric(engine, store_url, tmp_path) -> None:
    source = tmp_path / "axis.json"
    records = [{"code": "000.00.00.G22", "name": "Văn phòng Chính phủ"}]
    source.write_text(json.dumps({"data": records}), encoding="utf-8")
    settings = load_settings(None, store={"url": store_url}, directory={"url": str(source)})
    duties = build_duties(settings, engine=engine, source=directory_source(settings))
    names = [d.name for d in duties]
    assert names == ["directory-sync", "certificates", "audit-verify"]  # no store, no broker
    runner = Scheduler(engine, duties, owner="runner")
    assert "directory-sync" in await runner.tick()
    await settle(runner)
    state = (await DutyLeases(engine).states())["directory-sync"]
    assert state.last_ok and "added=1" in state.last_result
    DIRECTORY_LAST_SYNC.set(0)
    AUDIT_CHAIN_OK.set(0)
    other = Scheduler(engine, duties, owner="other")
    assert await other.tick() == []  # nothing due: the runner ran everything
    assert DIRECTORY_LAST_SYNC._value.get() == state.last_success_at.timestamp()
    assert AUDIT_CHAIN_OK._value.get() == 1
    assert "directory-sync: ok (added=1" in other.detail()


async def test_readiness_check_reports_duties(engine) -> None:
    scheduler = Scheduler(engine, [counting("x", 60, [])], owner="a")
    check = duties_check(lambda: scheduler)
    assert await check.probe() == "x: never run, last -, next -"
    await scheduler.tick()
    await settle(scheduler)
    await scheduler.tick()
    assert (await check.probe()).startswith("x: ok (run 1), last ")
    assert await duties_check(lambda: None).probe() == "scheduler not started"


async def test_http_directory_source(aiohttp_server) -> None:
    from aiohttp import web

    from gateway.ops.duties_builtin import HttpSource

    async def agencies(_request: web.Request) -> web.Response:
        return web.json_response({"data": [{"code": "000.00.00.H41", "name": "UBND Nghệ An"}]})

    app = web.Application()
    app.router.add_get("/directory", agencies)
    server = await aiohttp_server(app)
    records = await HttpSource(str(server.make_url("/directory"))).fetch()
    assert records == [{"code": "000.00.00.H41", "name": "UBND Nghệ An"}]
    with pytest.raises(Exception, match="404"):
        await HttpSource(str(server.make_url("/absent"))).fetch()
