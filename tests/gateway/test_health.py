"""Readiness checks, each under its own timeout, maintenance mode, and the ops endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.ops import build_ops_app
from gateway.audit import chain as audit
from gateway.credentials.admin import fingerprint
from gateway.ops import health
from gateway.store.database import create_engine, create_schema
from tests.pki import expired_leaf, make_ca, make_leaf, write_pems


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    await create_schema(eng)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    ca = make_ca("Test Root CA", "ec")
    node = make_leaf(ca, "node", "ec")
    other = make_leaf(ca, "other", "ec")
    old = expired_leaf(ca, "old", "ec")
    return write_pems(tmp_path_factory.mktemp("pki"), ca=ca, node=node, other=other, old=old)


def ok_check(name: str) -> health.Check:
    async def probe() -> str:
        return "fine"

    return health.Check(name, probe)


async def run_one(check: health.Check) -> health.CheckResult:
    readiness = await health.HealthChecker([check]).run()
    return readiness.checks[0]


async def test_each_check_has_its_own_timeout() -> None:
    async def slow() -> str:
        await asyncio.sleep(30)
        return "never"

    readiness = await health.HealthChecker(
        [health.Check("slow", slow, timeout_s=0.05), ok_check("fast")]
    ).run()
    assert not readiness.ok
    assert readiness.failing == ["slow"]
    slow_result = readiness.checks[0]
    assert slow_result.detail == "timeout after 0.05 s"
    assert readiness.checks[1].ok


async def test_failing_probe_is_named_with_its_reason() -> None:
    async def broken() -> str:
        raise ConnectionRefusedError("connection refused")

    readiness = await health.HealthChecker([health.Check("broker", broken)]).run()
    body = readiness.as_dict()
    assert body["status"] == "not_ready" and body["failing"] == ["broker"]
    assert body["checks"][0]["detail"] == "connection refused"


async def test_maintenance_makes_the_process_not_ready() -> None:
    checker = health.HealthChecker([ok_check("store")])
    assert (await checker.run()).ok
    checker.maintenance.switch_on("upgrade", by="admin:0")
    readiness = await checker.run()
    assert not readiness.ok and readiness.failing == ["maintenance"]
    assert readiness.as_dict()["maintenance"]["reason"] == "upgrade"
    checker.maintenance.switch_off()
    assert (await checker.run()).ok


async def test_store_check_against_a_real_database(engine: AsyncEngine, tmp_path: Path) -> None:
    assert (await run_one(health.store_check(engine))).ok
    missing = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    result = await run_one(health.store_check(missing))
    assert not result.ok
    await missing.dispose()


async def test_broker_check_accepts_sync_and_async_probes() -> None:
    async def closed() -> bool:
        return False

    assert (await run_one(health.broker_check(lambda: True))).ok
    result = await run_one(health.broker_check(closed))
    assert not result.ok and "closed" in result.detail


async def test_node_key_check(pki: dict[str, Path]) -> None:
    good = health.node_key_check(pki["node.key"], pki["node.cert"])
    assert (await run_one(good)).ok
    mismatch = await run_one(health.node_key_check(pki["other.key"], pki["node.cert"]))
    assert not mismatch.ok and "does not match" in mismatch.detail
    expired = await run_one(health.node_key_check(pki["old.key"], pki["old.cert"]))
    assert not expired.ok and "expired" in expired.detail
    later = datetime.now(UTC) + timedelta(days=400)
    future = health.node_key_check(pki["node.key"], pki["node.cert"], clock=lambda: later)
    assert not (await run_one(future)).ok
    missing = await run_one(health.node_key_check(Path("/nonexistent.key"), pki["node.cert"]))
    assert not missing.ok and "unreadable" in missing.detail


async def test_trust_anchors_check(pki: dict[str, Path], tmp_path: Path) -> None:
    assert (await run_one(health.trust_anchors_check([pki["ca.cert"]]))).ok
    only_expired = await run_one(health.trust_anchors_check([pki["old.cert"]]))
    assert not only_expired.ok
    gone = await run_one(health.trust_anchors_check([tmp_path / "gone.pem"]))
    assert not gone.ok and "gone.pem" in gone.detail


async def test_directory_freshness() -> None:
    now = datetime.now(UTC)
    fresh = health.directory_check(lambda: now - timedelta(minutes=5), size=lambda: 10)
    assert (await run_one(fresh)).ok
    stale = health.directory_check(lambda: now - timedelta(days=3), timedelta(hours=24))
    assert not (await run_one(stale)).ok
    empty = health.directory_check(lambda: now, size=lambda: 0)
    assert (await run_one(empty)).detail == "directory is empty"
    never = health.directory_check(lambda: None)
    assert not (await run_one(never)).ok


async def test_disk_space_check(tmp_path: Path) -> None:
    assert (await run_one(health.disk_space_check(tmp_path / "blobs", min_free_bytes=1))).ok
    huge = health.disk_space_check(tmp_path, min_free_bytes=1 << 60)
    result = await run_one(huge)
    assert not result.ok and "MiB free" in result.detail


async def test_ops_endpoints_and_maintenance_switch(
    aiohttp_client: Any, engine: AsyncEngine
) -> None:
    checker = health.HealthChecker([ok_check("store")])
    client = await aiohttp_client(build_ops_app(checker, admin_tokens=["t0k"], engine=engine))

    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["status"] == "ready"

    refused = await client.post("/maintenance", json={"reason": "x"})
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "AUTH_FAILED"
    wrong = await client.post("/maintenance", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401

    admin = {"Authorization": "Bearer t0k"}
    on = await client.post("/maintenance", json={"reason": "nâng cấp"}, headers=admin)
    assert on.status == 200 and (await on.json())["active"] is True
    not_ready = await client.get("/readyz")
    assert not_ready.status == 503
    assert (await not_ready.json())["failing"] == ["maintenance"]
    metrics_body = await (await client.get("/metrics")).text()
    assert "edoc_gateway_maintenance_mode 1.0" in metrics_body

    off = await client.delete("/maintenance", headers=admin)
    assert off.status == 200 and (await off.json())["active"] is False
    assert (await client.get("/readyz")).status == 200

    async with engine.connect() as conn:
        records = await audit.entries(conn)
        assert await audit.verify_chain(conn) == []
    admin_actor = f"admin:{fingerprint('t0k')}"  # one actor format at every admin door
    assert [(r.event, r.actor, r.outcome) for r in records] == [
        ("rejected", None, "AUTH_FAILED"),  # each refusal audited once, where decided
        ("rejected", None, "AUTH_FAILED"),
        ("maintenance.on", admin_actor, "ok"),
        ("maintenance.off", admin_actor, "ok"),
    ]
    assert records[0].detail is not None and records[0].detail["door"] == "ops"
    assert records[2].detail == {"reason": "nâng cấp"}


async def test_readyz_names_failing_checks(aiohttp_client: Any) -> None:
    async def down() -> str:
        raise health.CheckFailed("broker connection is closed")

    checker = health.HealthChecker([ok_check("store"), health.Check("broker", down)])
    client = await aiohttp_client(build_ops_app(checker))
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["failing"] == ["broker"]
    assert {c["name"]: c["ok"] for c in body["checks"]} == {"store": True, "broker": False}
