"""Overview alerts: raised from the node's state, acknowledged in the audit chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ops import alerts
from gateway.ops.certs import CertStatus
from gateway.ops.health import CheckResult, Maintenance, Readiness
from gateway.store.database import create_engine, create_schema, transaction

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    await create_schema(engine)
    yield engine
    await engine.dispose()


def _readiness(*failing: str) -> Readiness:
    checks = tuple(
        CheckResult(name, name not in failing, "down" if name in failing else "ok", 1.0)
        for name in ("store", "broker", "disk")
    )
    return Readiness(checks, Maintenance())


def _cert(days: float) -> CertStatus:
    return CertStatus("node", Path("n.crt"), "CN=node", NOW, days * 86400)


def test_state_raises_alerts_most_severe_first() -> None:
    raised = alerts.current_alerts(
        _readiness("broker"),
        parked=3,
        certificates=[_cert(20), _cert(400)],
        directory_checked_at=NOW - timedelta(hours=30),
        now=NOW,
    )
    assert [a.key for a in raised] == ["check:broker", "parked", "cert:node", "directory"]
    assert [a.severity for a in raised] == ["critical", "critical", "warning", "warning"]
    assert "3 lượt" in raised[1].text_vi and "3 parked" in raised[1].text_en
    quiet = alerts.current_alerts(
        _readiness(), parked=0, certificates=[_cert(400)], directory_checked_at=NOW, now=NOW
    )
    assert quiet == []


async def test_acknowledgements_come_from_the_audit_chain_and_expire(
    engine: AsyncEngine,
) -> None:
    async with transaction(engine) as conn:
        await alerts.acknowledge(conn, "parked", actor="console:lan", note="đang xử lý")
    raised = alerts.current_alerts(
        _readiness(), parked=1, certificates=[], directory_checked_at=NOW, now=NOW
    )
    now = datetime.now(UTC)
    async with engine.connect() as conn:
        acks = await alerts.acknowledgements(conn, now=now)
        later = await alerts.acknowledgements(conn, now=now + alerts.ACK_FOR + timedelta(1))
    marked = alerts.with_acknowledgements(raised, acks)
    assert marked[0].acknowledged_by == "console:lan" and marked[0].acknowledged_at is not None
    assert later == {}  # a condition still there a day later alerts again
