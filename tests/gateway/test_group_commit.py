"""Group commit: concurrent requests share transactions, failures stay with their request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.database import create_engine, create_schema, transaction
from gateway.store.group_commit import REQUEUE, GroupCommit


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite:///{tmp_path / 'gc.db'}")
    await create_schema(eng)
    async with eng.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (n INTEGER PRIMARY KEY)"))
    yield eng
    await eng.dispose()


class Notes:
    """A lane inserting numbers; remembers the size of every batch it was given."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.requeued: set[int] = set()

    async def process(self, conn: AsyncConnection, numbers: Sequence[int]) -> list[Any]:
        self.batches.append(len(numbers))
        out: list[Any] = []
        for n in numbers:
            if n < 0:
                out.append(ValueError(f"refused {n}"))
            elif n == 99 and n not in self.requeued:
                self.requeued.add(n)
                out.append(REQUEUE)
            else:
                await conn.execute(text("INSERT INTO notes (n) VALUES (:n)"), {"n": n})
                out.append(n * 10)
        return out


async def stored(engine: AsyncEngine) -> list[int]:
    async with transaction(engine) as conn:
        return [r[0] for r in (await conn.execute(text("SELECT n FROM notes ORDER BY n")))]


async def test_concurrent_requests_share_transactions(engine: AsyncEngine) -> None:
    notes = Notes()
    lane: GroupCommit[int, int] = GroupCommit(engine, notes.process)
    results = await asyncio.gather(*(lane.submit(n) for n in range(50)))
    assert results == [n * 10 for n in range(50)]
    assert await stored(engine) == list(range(50))
    assert sum(notes.batches) == 50 and len(notes.batches) < 50


async def test_refusal_goes_to_its_caller_only(engine: AsyncEngine) -> None:
    notes = Notes()
    lane: GroupCommit[int, int] = GroupCommit(engine, notes.process)
    results = await asyncio.gather(*(lane.submit(n) for n in (1, -1, 2)), return_exceptions=True)
    assert results[0] == 10 and results[2] == 20
    assert isinstance(results[1], ValueError)
    assert await stored(engine) == [1, 2]


async def test_failed_transaction_is_retried_request_by_request(engine: AsyncEngine) -> None:
    notes = Notes()
    lane: GroupCommit[int, int] = GroupCommit(engine, notes.process)
    await lane.submit(7)
    # 7 again violates the primary key: the shared transaction fails, the others still commit.
    results = await asyncio.gather(*(lane.submit(n) for n in (5, 7, 6)), return_exceptions=True)
    assert results[0] == 50 and results[2] == 60
    assert isinstance(results[1], Exception)
    assert await stored(engine) == [5, 6, 7]


async def test_requeued_request_runs_in_a_later_transaction(engine: AsyncEngine) -> None:
    notes = Notes()
    lane: GroupCommit[int, int] = GroupCommit(engine, notes.process)
    assert await asyncio.gather(lane.submit(99), lane.submit(3)) == [990, 30]
    assert len(notes.batches) >= 2
    assert await stored(engine) == [3, 99]


async def test_lanes_of_one_engine_share_the_transaction(engine: AsyncEngine) -> None:
    first, second = Notes(), Notes()
    a: GroupCommit[int, int] = GroupCommit(engine, first.process)
    b: GroupCommit[int, int] = GroupCommit(engine, second.process)
    await asyncio.gather(a.submit(1), b.submit(2), a.submit(3), b.submit(4))
    await a.close()
    await b.close()
    assert await stored(engine) == [1, 2, 3, 4]
    assert sum(first.batches) == 2 and sum(second.batches) == 2
