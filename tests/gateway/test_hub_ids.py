"""Numeric aliases and trace queries of the hub doors, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store import hub_ids
from gateway.store import repository as repo
from gateway.store.database import create_engine, create_schema, transaction
from tests import store_rows

G, H = "000.00.00.G22", "000.00.00.H41"


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(store_url)
    await create_schema(eng)
    yield eng
    await eng.dispose()


async def stored(
    engine: AsyncEngine,
    document_id: str,
    *,
    kind: str = "document",
    sender: str = G,
    to: str = H,
    state: str = "delivered",
    at: datetime | None = None,
) -> str:
    now = at or datetime.now(UTC)
    msg = repo.NewMessage(
        kind=kind,
        sender=sender,
        document_id=document_id,
        content_sha256=document_id[-8:] * 8,
        blob_key="b",
        size=1,
        caller_system="s",
        accepted_at=now,
        legal_receipt_at=now,
        signature_status="unsigned",
    )
    async with transaction(engine) as conn:
        await store_rows.insert_message(conn, msg, [repo.NewDelivery(to, to, state=state)])
    return msg.id


async def test_numbers_are_stable_distinct_and_resolve_back(engine: AsyncEngine) -> None:
    a = await stored(engine, f"{G},2024/05/10,1/SA-VP")
    b = await stored(engine, f"{G},2024/05/10,2/SA-VP")
    now = datetime.now(UTC)
    first = await asyncio.gather(*(hub_ids.number_for(engine, a, now) for _ in range(5)))
    assert len(set(first)) == 1  # concurrent first uses agree on one number
    number_b = await hub_ids.number_for(engine, b, now)
    assert number_b != first[0] and await hub_ids.number_for(engine, a, now) == first[0]
    assert await hub_ids.message_for(engine, number_b) == b
    assert await hub_ids.message_for(engine, 10**12) is None


async def test_statuses_since_and_sent_by_code(engine: AsyncEngine) -> None:
    old = datetime.now(UTC) - timedelta(days=2)
    await stored(engine, "s-old", kind="status", sender=H, to=G, at=old)
    new = await stored(engine, "s-new", kind="status", sender=H, to=G)
    await stored(engine, "s-pending", kind="status", sender=H, to=G, state="pending")
    since = datetime.now(UTC) - timedelta(days=1)
    assert await hub_ids.statuses_since(engine, G, since) == [new]
    assert await hub_ids.statuses_since(engine, H, since) == []
    doc = await stored(engine, f"{G},2024/05/10,7/SA_VP")
    assert await hub_ids.find_sent(engine, G, "7/SA_VP") == [(doc, (H, H))]
    assert await hub_ids.find_sent(engine, G, "7/SA%") == []  # LIKE wildcards are literal
