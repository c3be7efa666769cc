"""Multi-row store statements of the hot paths (gateway.store.bulk), on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import DuplicateMessage
from gateway.store import bulk
from gateway.store import repository as repo
from gateway.store.database import create_engine, create_schema, transaction
from tests import store_rows

NOW = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    await create_schema(eng)
    yield eng
    await eng.dispose()


def message(n: int) -> repo.NewMessage:
    return store_rows.new_message(n, NOW)


async def seed(engine: AsyncEngine, count: int) -> list[list[repo.NewDelivery]]:
    items = [
        (message(n), [repo.NewDelivery("H41", "H41"), repo.NewDelivery("H14", "H14")])
        for n in range(count)
    ]
    async with transaction(engine) as conn:
        await bulk.insert_messages(conn, items)
    return [ds for _, ds in items]


async def test_insert_and_find_duplicates(engine: AsyncEngine) -> None:
    await seed(engine, 3)
    wanted = {("000.00.00.G22", "doc-1", f"{1:064x}", "document"), ("X", "doc-9", "0", "document")}
    async with transaction(engine) as conn:
        found = await bulk.find_duplicates(conn, wanted)
    assert list(found) == [("000.00.00.G22", "doc-1", f"{1:064x}", "document")]
    with pytest.raises(DuplicateMessage):
        async with transaction(engine) as conn:
            await bulk.insert_messages(conn, [(message(1), [])])


async def test_mark_delivered_many_gives_each_row_its_own_cursor(engine: AsyncEngine) -> None:
    ids = [d.id for ds in await seed(engine, 3) for d in ds]
    async with transaction(engine) as conn:
        assert await bulk.mark_delivered_many(conn, ids[:4]) == set(ids[:4])
    async with transaction(engine) as conn:
        # Already delivered ones are left alone; the others follow them in the cursor order.
        assert await bulk.mark_delivered_many(conn, ids[2:]) == set(ids[4:])
        loaded = await bulk.load_deliveries(conn, [*ids, "unknown"])
    assert set(loaded) == set(ids)
    seqs = [loaded[i][0].delivered_seq for i in ids]
    assert all(s is not None for s in seqs) and len(set(seqs)) == len(ids)
    assert max(seqs[:4]) < min(seqs[4:])  # type: ignore[type-var]
    delivery, msg = loaded[ids[0]]
    assert delivery.state == "delivered" and delivery.attempts == 1
    assert msg.id == delivery.message_id and msg.document_id == "doc-0"


async def test_mailbox_deliveries_inserted_delivered_with_increasing_cursors(
    engine: AsyncEngine,
) -> None:
    first = [(message(n), [repo.NewDelivery("H41", "H41", "mailbox")]) for n in range(5)]
    second = [(message(n), [repo.NewDelivery("H41", "H41", "mailbox")]) for n in range(5, 9)]
    for batch in (first, second):
        async with transaction(engine) as conn:
            await bulk.insert_messages(conn, batch, delivered={ds[0].id for _, ds in batch})
    async with transaction(engine) as conn:
        rows = [(await repo.deliveries_for(conn, m.id))[0] for m, _ in (*first, *second)]
        inbox = await repo.inbox(conn, ["H41"], after=None, limit=100)
    assert all(r.state == "delivered" and r.delivered_at is not None for r in rows)
    seqs = [r.delivered_seq for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == 9  # one cursor each, in order
    assert [i.message_id for i in inbox] == [m.id for m, _ in (*first, *second)]
