"""The message store (gateway/store/repository.py), against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import DuplicateMessage, StoreError
from gateway.store import repository as repo
from gateway.store.database import async_url, create_engine, create_schema, transaction
from tests import store_rows

pytestmark = pytest.mark.integration

G = "000.00.00.G01"
H1 = "000.00.00.H01"
H2 = "000.00.00.H02"


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(store_url)
    await create_schema(eng)
    yield eng
    await eng.dispose()


def message(document_id: str = "doc-1", *, sha: str = "a" * 64, kind: str = "document"):
    now = datetime.now(UTC)
    return repo.NewMessage(
        kind=kind,
        sender=G,
        document_id=document_id,
        content_sha256=sha,
        blob_key=sha,
        size=100,
        caller_system="qlvb-g01",
        accepted_at=now,
        legal_receipt_at=now + timedelta(hours=1),
        signature_status="verified",
        signer="CN=Văn thư",
        algorithm="rsa-sha256",
    )


async def store(engine: AsyncEngine, msg: repo.NewMessage, *codes: str) -> list[repo.NewDelivery]:
    deliveries = [repo.NewDelivery(code, code) for code in codes]
    async with transaction(engine) as conn:
        await store_rows.insert_message(conn, msg, deliveries)
    return deliveries


def test_async_url_picks_the_async_drivers() -> None:
    assert async_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert async_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert async_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"


async def test_message_round_trip_keeps_fields_and_aware_times(engine: AsyncEngine) -> None:
    msg = message()
    await store(engine, msg, H1, H2)
    async with transaction(engine) as conn:
        row = await repo.get_message(conn, msg.id)
        deliveries = await repo.deliveries_for(conn, msg.id)
    assert row is not None
    assert (row.sender, row.document_id, row.signer) == (G, "doc-1", "CN=Văn thư")
    assert row.accepted_at == msg.accepted_at and row.accepted_at.tzinfo is not None
    assert row.legal_receipt_at == msg.legal_receipt_at
    assert sorted(d.resolved_code for d in deliveries) == [H1, H2]
    assert {d.state for d in deliveries} == {"pending"}


async def test_duplicate_is_found_and_refused_by_the_unique_key(engine: AsyncEngine) -> None:
    first = message()
    await store(engine, first, H1)
    async with transaction(engine) as conn:
        found = await store_rows.find_duplicate(
            conn, sender=G, document_id="doc-1", content_sha256="a" * 64, kind="document"
        )
        other = await store_rows.find_duplicate(
            conn, sender=G, document_id="doc-1", content_sha256="b" * 64, kind="document"
        )
    assert found is not None and found.id == first.id
    assert other is None
    with pytest.raises(DuplicateMessage):
        await store(engine, message(), H1)
    async with transaction(engine) as conn:  # nothing half-written by the refused insert
        assert len(await repo.deliveries_for(conn, first.id)) == 1


async def test_rollback_on_error_leaves_nothing(engine: AsyncEngine) -> None:
    msg = message("doc-rollback")
    with pytest.raises(RuntimeError):
        async with transaction(engine) as conn:
            await store_rows.insert_message(conn, msg, [repo.NewDelivery(H1, H1)])
            raise RuntimeError("crash after insert")
    async with transaction(engine) as conn:
        assert await repo.get_message(conn, msg.id) is None


async def test_find_document_earliest_and_latest(engine: AsyncEngine) -> None:
    original = message("doc-x", sha="1" * 64)
    await store(engine, original, H1)
    update = message("doc-x", sha="2" * 64)
    update.accepted_at = original.accepted_at + timedelta(seconds=5)
    await store(engine, update, H1)
    async with transaction(engine) as conn:
        earliest = await repo.find_document(conn, document_id="doc-x", sender=G)
        latest = await repo.find_document(conn, document_id="doc-x", latest=True)
        missing = await repo.find_document(conn, document_id="doc-x", sender=H1)
    assert earliest is not None and earliest.id == original.id
    assert latest is not None and latest.id == update.id
    assert missing is None


async def test_delivery_lifecycle_inbox_and_ack(engine: AsyncEngine) -> None:
    msg = message()
    d1, d2 = await store(engine, msg, H1, H2)
    async with transaction(engine) as conn:
        assert await repo.mark_published(conn, [d1.id, d2.id]) == 2
        assert await repo.inbox(conn, [H1], after=None, limit=10) == []  # not delivered yet
        assert await store_rows.mark_delivered(conn, d1.id) is True
        assert await store_rows.mark_delivered(conn, d1.id) is False  # idempotent
        # published is not overwritten by a late mark_published
        assert await repo.mark_published(conn, [d1.id]) == 0
    async with transaction(engine) as conn:
        items = await repo.inbox(conn, [H1, H2], after=None, limit=10)
        assert [i.delivery_id for i in items] == [d1.id]
        assert items[0].message_id == msg.id and items[0].sender == G
        assert await repo.inbox(conn, [H2], after=None, limit=10) == []  # other agency
        acked = await repo.mark_acked(conn, msg.id, [H1])
        assert [a.state for a in acked] == ["acked"]
        assert await repo.mark_acked(conn, msg.id, [H1]) == []  # second ack changes nothing
        assert await repo.inbox(conn, [H1], after=None, limit=10) == []
        row = await repo.get_delivery(conn, d1.id)
    assert row is not None and row.acked_at is not None and row.attempts == 1


async def test_inbox_cursor_pages_in_delivery_order(engine: AsyncEngine) -> None:
    ids = []
    for n in range(5):
        (d,) = await store(engine, message(f"doc-{n}", sha=f"{n}" * 64), H1)
        ids.append(d.id)
    for delivery_id in reversed(ids):  # visible in the reverse order of creation
        async with transaction(engine) as conn:
            await store_rows.mark_delivered(conn, delivery_id)
    async with transaction(engine) as conn:
        first = await repo.inbox(conn, [H1], after=None, limit=2)
        rest = await repo.inbox(conn, [H1], after=first[-1].cursor, limit=10)
    assert [i.delivery_id for i in first + rest] == list(reversed(ids))


async def test_retry_park_replay_and_unpublished(engine: AsyncEngine) -> None:
    msg = message()
    (d,) = await store(engine, msg, H1)
    async with transaction(engine) as conn:
        later = datetime.now(UTC) + timedelta(seconds=1)
        assert [r.id for r in await repo.unpublished(conn, older_than=later)] == [d.id]
        earlier = datetime.now(UTC) - timedelta(hours=1)
        assert await repo.unpublished(conn, older_than=earlier) == []
        await repo.mark_published(conn, [d.id])
        assert await repo.unpublished(conn, older_than=later) == []
        assert await repo.mark_retrying(conn, d.id, "503") is True
        assert await repo.mark_parked(conn, d.id, "still 503") is True
        parked = await repo.parked(conn)
    assert [(p.id, p.attempts, p.last_error) for p in parked] == [(d.id, 2, "still 503")]
    async with transaction(engine) as conn:
        reset = await repo.reset_for_replay(conn, [d.id])
        assert [(r.state, r.attempts) for r in reset] == [("pending", 0)]
        assert await repo.parked(conn) == []
        counts = await repo.delivery_counts(conn)
    assert counts == {"pending": 1}


async def test_status_history_and_last_status(engine: AsyncEngine) -> None:
    msg = message()
    await store(engine, msg, H1, H2)
    base = datetime.now(UTC)
    async with transaction(engine) as conn:
        assert await repo.last_status(conn, msg.id, H1) is None
        for n, code in enumerate((1, 3, 5)):
            await repo.add_status(
                conn,
                document_message_id=msg.id,
                recipient_code=H1,
                status_code=code,
                status_message_id=None,
                at=base + timedelta(seconds=n),
            )
        await repo.add_status(
            conn,
            document_message_id=msg.id,
            recipient_code=H2,
            status_code=2,
            status_message_id="s" * 32,
            at=base,
        )
    async with transaction(engine) as conn:
        assert await repo.last_status(conn, msg.id, H1) == 5
        assert await repo.last_status(conn, msg.id, H2) == 2
        history = await repo.status_history(conn, msg.id)
    assert [(h.recipient_code, h.status_code) for h in history] == [
        (H1, 1),
        (H1, 3),
        (H1, 5),
        (H2, 2),
    ]


async def test_sent_messages_newest_first_with_cursor(engine: AsyncEngine) -> None:
    msgs = []
    for n in range(3):
        m = message(f"doc-{n}", sha=f"{n}" * 64)
        m.accepted_at = datetime.now(UTC) + timedelta(seconds=n)
        await store(engine, m, H1)
        msgs.append(m)
    async with transaction(engine) as conn:
        page1 = await repo.sent_messages(conn, [G], limit=2)
        page2 = await repo.sent_messages(conn, [G], after=page1[-1].id, limit=2)
        none = await repo.sent_messages(conn, [H1])
    assert [m.id for m in page1 + page2] == [m.id for m in reversed(msgs)]
    assert none == []


async def test_concurrent_writers_do_not_lose_deliveries(engine: AsyncEngine) -> None:
    stored = await asyncio.gather(
        *(store(engine, message(f"doc-{n}", sha=f"{n:064x}"), H1) for n in range(20))
    )
    ids = [d.id for ds in stored for d in ds]
    for delivery_id in ids:
        async with transaction(engine) as conn:
            await store_rows.mark_delivered(conn, delivery_id)
    async with transaction(engine) as conn:
        items = await repo.inbox(conn, [H1], after=None, limit=100)
    assert sorted(i.delivery_id for i in items) == sorted(ids)
    assert len({i.cursor for i in items}) == 20


async def test_unreachable_database_is_a_store_error(tmp_path) -> None:
    eng = create_engine("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError):
        await create_schema(eng)
    await eng.dispose()
