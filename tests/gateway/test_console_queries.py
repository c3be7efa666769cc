"""The console's read queries on both stores (SQLite and PostgreSQL): hourly series,
backlog, document search, audit search, in-process replay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import chain as audit
from gateway.audit import query as audit_query
from gateway.delivery.broker import DeliveryTask
from gateway.delivery.replay import replay_parked
from gateway.store import overview
from gateway.store import repository as repo
from gateway.store.database import create_engine, create_schema, transaction
from tests import store_rows

G, H, K = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14"


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(store_url)
    await create_schema(engine)
    yield engine
    await engine.dispose()


async def _store(engine: AsyncEngine, number: str, at: datetime, *to: str) -> str:
    message = repo.NewMessage(
        kind="document",
        sender=G,
        document_id=f"{G},2026/01/05,{number}/VPCP-TTĐT",
        content_sha256=number * 8,
        blob_key=number,
        size=10,
        caller_system="SYS-G22",
        accepted_at=at,
        legal_receipt_at=at,
        signature_status="verified",
    )
    async with transaction(engine) as conn:
        await store_rows.insert_message(conn, message, [repo.NewDelivery(c, c) for c in to])
    return message.id


class _Broker:
    """Records what would be published (the replay's store side is under test here)."""

    def __init__(self) -> None:
        self.tasks: list[DeliveryTask] = []

    async def publish(self, tasks: list[DeliveryTask]) -> None:
        self.tasks.extend(tasks)


async def test_hourly_series_backlog_and_search(engine: AsyncEngine) -> None:
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    old = await _store(engine, "7", now - timedelta(hours=3), H)
    new = await _store(engine, "8", now, H, K)
    async with transaction(engine) as conn:
        delivery = (await repo.deliveries_for(conn, new))[0]
        await store_rows.mark_delivered(conn, delivery.id)
    async with engine.connect() as conn:
        slots, series_in, series_out = await overview.hourly(conn, since=now - timedelta(hours=23))
        backlog = await overview.backlog(conn)
        by_number = await overview.search_messages(conn, text="8/VPCP")
        by_agency = await overview.search_messages(conn, agency=K)
        by_state = await overview.search_messages(conn, state="delivered")
        by_time = await overview.search_messages(conn, start=now - timedelta(hours=1))
        today = await overview.documents_between(conn, now - timedelta(hours=1), now + timedelta(1))
    assert len(slots) == 24 and sum(series_in) == 2 and series_in[-1] == 1
    assert series_in[-4] == 1 and sum(series_out) == 1
    assert backlog.waiting == 2 and backlog.parked == 0
    assert backlog.oldest_waiting is not None
    assert backlog.oldest_waiting.tzinfo is not None
    assert abs(backlog.oldest_waiting - (now - timedelta(hours=3))) < timedelta(hours=4)
    assert [m.id for m in by_number] == [new]
    assert [m.id for m in by_agency] == [new]
    assert [m.id for m in by_state] == [new]
    assert [m.id for m in by_time] == [new] and today == 1
    assert old not in {m.id for m in by_number}


async def test_audit_search_by_door_caller_and_code(engine: AsyncEngine) -> None:
    async with transaction(engine) as conn:
        await audit.append(conn, event="rejected", outcome="AUTH_FAILED", detail={"via": "edge"})
        await audit.append(conn, event="received", actor="SYS-G22", agency=G)
        await audit.append(conn, event="console.login", actor="console:lan", detail={})
    async with engine.connect() as conn:
        edge = await audit_query.search(conn, door="edge")
        console = await audit_query.search(conn, door="console")
        caller = await audit_query.search(conn, caller="SYS-")
        code = await audit_query.search(conn, code="AUTH_FAILED")
        agency = await audit_query.search(conn, code=G)
        total = await audit_query.count(conn)
    assert [e.event for e in edge] == ["rejected"]
    assert [e.event for e in console] == ["console.login"]
    assert [e.event for e in caller] == ["received"]
    assert [e.event for e in code] == ["rejected"] and [e.event for e in agency] == ["received"]
    assert total == 3


async def test_replay_resets_only_parked_deliveries_and_audits_once(engine: AsyncEngine) -> None:
    message_id = await _store(engine, "9", datetime.now(UTC), H, K)
    async with transaction(engine) as conn:
        first, second = await repo.deliveries_for(conn, message_id)
        await repo.mark_parked(conn, first.id, "push answered 404")
    broker = _Broker()
    done = await replay_parked(engine, broker, [first.id, second.id], actor="console:op")
    assert done == [first.id]
    assert [t.delivery_id for t in broker.tasks] == [first.id]
    async with engine.connect() as conn:
        state = (await repo.get_delivery(conn, first.id)).state  # type: ignore[union-attr]
        records = [e for e in await audit.entries(conn) if e.event == "deliveries.replayed"]
    assert state == "published"
    assert len(records) == 1 and records[0].actor == "console:op"
    assert records[0].detail == {
        "requested": [first.id, second.id],
        "replayed": [first.id],
        "count": 1,
    }
    assert await replay_parked(engine, broker, None, actor="console:op") == []
