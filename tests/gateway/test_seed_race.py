"""First-boot seeding by two processes of one node starting together on one PostgreSQL
database (``gateway.directory.sync.seed``): one fills the store, the other finds it filled;
neither fails on the agencies' keys (before the fix a gateway exited 1 at start)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.audit import chain as audit
from gateway.directory.store import load_agencies
from gateway.directory.sync import seed
from gateway.store.database import create_engine, create_schema

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "directory.sample.csv"


async def test_two_processes_seed_one_empty_store_once(pg_url: str) -> None:
    data = SAMPLE.read_bytes()
    engines = [create_engine(pg_url) for _ in range(2)]  # one pool per process
    try:
        await asyncio.gather(*(create_schema(e) for e in engines))
        results = await asyncio.gather(*(seed(e, data=data, fmt="csv") for e in engines))
        assert sorted(r is None for r in results) == [False, True]
        seeded = next(r for r in results if r is not None)
        async with engines[0].connect() as conn:
            assert len(await load_agencies(conn)) == len(seeded.added) == 96
            imports = select(func.count()).where(audit.AuditRecord.event.like("directory.%"))
            assert await conn.scalar(imports) == 1  # one import recorded, not two
            assert await audit.verify_chain(conn) == []
    finally:
        for engine in engines:
            await engine.dispose()
