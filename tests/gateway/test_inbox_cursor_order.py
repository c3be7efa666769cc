"""Inbox cursors follow the commit order when two processes write one PostgreSQL store.

A reader pages with ``after=<last cursor>``; if a transaction that took a smaller cursor
committed after one that took a larger, the reader would skip it for good. Intake takes
the audit chain head's lock before it gives cursors (``gateway.core.intake_plan.Writes``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.audit import chain as audit
from gateway.core.intake_plan import Planned, Writes
from gateway.store import bulk
from gateway.store import repository as repo
from gateway.store.database import create_engine, create_schema, transaction
from tests import store_rows

NOW = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)
H41 = "000.00.00.H41"


def planned(n: int) -> Planned:
    message = store_rows.new_message(n, NOW)
    event = audit.Event("received", actor="SYS", message_id=message.id)
    return Planned(None, message, [repo.NewDelivery(H41, H41, "mailbox")], [], event)  # type: ignore[arg-type]


async def test_a_later_commit_never_gets_a_smaller_cursor(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = create_engine(pg_url), create_engine(pg_url)  # two processes' engines
    await create_schema(first)
    try:
        holding = asyncio.Event()
        real_insert = bulk.insert_delivered

        async def insert_then_stall(conn: Any, items: Any) -> None:
            await real_insert(conn, items)  # its cursor is taken here
            if items[0][1] and items[0][0].document_id == "doc-1":
                holding.set()
                await asyncio.sleep(1.0)  # the other process writes meanwhile

        monkeypatch.setattr(bulk, "insert_delivered", insert_then_stall)

        pages: list[list[tuple[str, str]]] = []
        cursor: list[str | None] = [None]

        async def page() -> None:  # what a client paging with ``after`` gets now
            async with transaction(second) as conn:
                items = await repo.inbox(conn, [H41], after=cursor[0], limit=10)
            pages.append([(i.document_id, i.cursor) for i in items])
            if items:
                cursor[0] = items[-1].cursor

        async def slow() -> None:
            async with transaction(first) as conn:
                await Writes(planned=[planned(1)]).flush(conn)

        async def quick() -> None:
            await holding.wait()
            async with transaction(second) as conn:
                await Writes(planned=[planned(2)]).flush(conn)
            await page()  # right after its own commit

        await asyncio.gather(slow(), quick())
        await page()  # once both committed
        seen = sorted(d for p in pages for d, _ in p)
        assert seen == ["doc-1", "doc-2"], pages  # nothing skipped by a client paging
        async with transaction(first) as conn:
            assert await audit.verify_chain(conn) == []
    finally:
        await first.dispose()
        await second.dispose()
