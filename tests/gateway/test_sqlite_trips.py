"""SQLite in few trips to aiosqlite's thread (gateway.store.sqlite_trips): same results."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import chain as audit
from gateway.errors import DuplicateMessage, StoreError
from gateway.store import bulk
from gateway.store import repository as repo
from gateway.store.database import create_engine, create_schema, transaction
from gateway.store.sqlite_trips import deferred_inserts
from tests import store_rows

NOW = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite:///{tmp_path / 'trips.db'}")
    await create_schema(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    count = [0]
    original = aiosqlite.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield count


def item(n: int) -> tuple[repo.NewMessage, list[repo.NewDelivery]]:
    message = store_rows.new_message(n, NOW)
    return message, [repo.NewDelivery("H41", "H41", "mailbox")]


async def test_a_batch_of_writes_is_four_trips_and_reads_see_queued_rows(
    engine: AsyncEngine, trips: list[int]
) -> None:
    for start in (0, 100):  # the first batch also reads the audit head (no hint yet)
        batch = [item(n) for n in range(start, start + 20)]
        trips[0] = 0
        async with transaction(engine) as conn, deferred_inserts(conn):
            await bulk.insert_messages(conn, batch)  # queued
            # Answers, so it goes with BEGIN and the queued inserts in one trip: sees them.
            marked = await bulk.mark_delivered_many(conn, [ds[0].id for _, ds in batch])
            await audit.append_many(conn, [audit.Event("received", actor="SYS")] * 20)
    assert len(marked) == 20
    # BEGIN + inserts + marks; the audit head's compare-and-set; the records + COMMIT.
    assert trips[0] == 3
    async with transaction(engine) as conn:
        stored = await repo.deliveries_for(conn, batch[3][0].id)
        assert [d.state for d in stored] == ["delivered"]
        assert await audit.verify_chain(conn) == []


async def test_a_queued_insert_that_fails_fails_the_commit_and_nothing_stays(
    engine: AsyncEngine,
) -> None:
    async with transaction(engine) as conn:
        await bulk.insert_messages(conn, [item(1)])
    with pytest.raises(DuplicateMessage):
        async with transaction(engine) as conn, deferred_inserts(conn):
            await bulk.insert_messages(conn, [item(2)])
            await bulk.insert_messages(conn, [item(1)])  # the same duplicate key: queued
    async with transaction(engine) as conn:
        assert (
            await bulk.find_duplicates(conn, {("000.00.00.G22", "doc-2", f"{2:064x}", "document")})
            == {}
        )
        # The connection is clean afterwards: no queued statement or BEGIN left behind.
        await bulk.insert_messages(conn, [item(3)])
    async with transaction(engine) as conn:
        found = await bulk.find_duplicates(
            conn, {("000.00.00.G22", "doc-3", f"{3:064x}", "document")}
        )
    assert len(found) == 1


async def test_an_error_in_the_block_drops_what_was_queued(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with transaction(engine) as conn, deferred_inserts(conn):
            await bulk.insert_messages(conn, [item(5)])
            raise RuntimeError("refused after the insert was queued")
    async with transaction(engine) as conn:
        key = ("000.00.00.G22", "doc-5", f"{5:064x}", "document")
        assert await bulk.find_duplicates(conn, {key}) == {}
        await bulk.insert_messages(conn, [item(5)])  # and the connection still works


async def test_a_streamed_read_runs_after_the_queued_statements(engine: AsyncEngine) -> None:
    from sqlalchemy import select

    from gateway.store.models import Message

    async with transaction(engine) as conn, deferred_inserts(conn):
        await bulk.insert_messages(conn, [item(7), item(8)])  # queued (and BEGIN before them)
        result = await conn.stream(select(Message.document_id).order_by(Message.document_id))
        assert [row[0] async for row in result] == ["doc-7", "doc-8"]
    async with transaction(engine) as conn:
        assert (
            len(
                await bulk.find_duplicates(
                    conn, {("000.00.00.G22", "doc-7", f"{7:064x}", "document")}
                )
            )
            == 1
        )


async def test_a_connection_that_cannot_open_leaves_no_thread_running(tmp_path: Path) -> None:
    """A failed connect waits for aiosqlite's thread to stop, so that it never answers a
    loop that closed meanwhile (an exception in a thread, raised at a random later time)."""
    before = {t for t in threading.enumerate() if t.name.endswith("(_connection_worker_thread)")}
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with pytest.raises(StoreError):
        async with transaction(engine) as conn:
            await repo.delivery_counts(conn)
    await engine.dispose()
    after = {t for t in threading.enumerate() if t.name.endswith("(_connection_worker_thread)")}
    assert not {t for t in after - before if t.is_alive()}
