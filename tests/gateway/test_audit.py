"""Audit trail: hash chain appends under concurrency, tamper detection, CLI."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gateway.audit import chain as audit
from gateway.commands.audit import app as audit_cli
from gateway.store.database import create_engine, create_schema

LOG = audit.AuditRecord.__table__


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gateway.db'}"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(sqlite_url(tmp_path))
    await create_schema(eng)
    yield eng
    await eng.dispose()


async def fill(engine: AsyncEngine, count: int) -> None:
    for i in range(count):
        async with engine.begin() as conn:
            await audit.append(
                conn,
                event="received",
                actor="system-a",
                message_id=f"m{i}",
                agency="000.00.00.G22",
                detail={"i": i, "tên": "Văn phòng Chính phủ"},
            )


async def problems(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return await audit.verify_chain(conn)


async def test_append_chains_records_and_verify_passes(engine: AsyncEngine) -> None:
    await fill(engine, 5)
    async with engine.connect() as conn:
        records = await audit.entries(conn)
        assert await audit.verify_chain(conn) == []
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == audit.GENESIS_HASH
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    assert records[2].detail == {"i": 2, "tên": "Văn phòng Chính phủ"}
    assert records[2].at.tzinfo is not None


async def test_non_json_detail_values_are_stored_as_text_and_still_verify(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await audit.append(conn, event="x", detail={"path": Path("/a/b"), "n": 1})
    async with engine.connect() as conn:
        [entry] = await audit.entries(conn)
        assert entry.detail == {"path": "/a/b", "n": 1}
        assert await audit.verify_chain(conn) == []


async def test_rolled_back_transaction_leaves_no_record(engine: AsyncEngine) -> None:
    await fill(engine, 2)
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await audit.append(conn, event="rejected", outcome="EDXML_SCHEMA")
            raise RuntimeError("intake failed after the audit append")
    await fill(engine, 1)
    async with engine.connect() as conn:
        assert [r.seq for r in await audit.entries(conn)] == [1, 2, 3]
        assert await audit.verify_chain(conn) == []


async def test_concurrent_appends_from_several_connections_keep_one_chain(
    tmp_path: Path,
) -> None:
    engines = [create_engine(sqlite_url(tmp_path)) for _ in range(4)]
    await create_schema(engines[0])

    async def writer(eng: AsyncEngine, n: int) -> None:
        for j in range(15):
            async with eng.begin() as conn:
                await audit.append(conn, event="delivered", message_id=f"w{n}-{j}")

    await asyncio.gather(*(writer(eng, n) for n, eng in enumerate(engines)))
    async with engines[0].connect() as conn:
        records = await audit.entries(conn)
        assert await audit.verify_chain(conn) == []
    assert [r.seq for r in records] == list(range(1, 61))
    assert len({r.message_id for r in records}) == 60
    for eng in engines:
        await eng.dispose()


async def test_edited_record_is_named(engine: AsyncEngine) -> None:
    await fill(engine, 5)
    async with engine.begin() as conn:
        await conn.execute(update(LOG).where(LOG.c.seq == 3).values(outcome="tampered"))
    found = await problems(engine)
    assert len(found) == 1
    assert found[0].startswith("seq 3:") and "edited" in found[0]


async def test_edit_with_recomputed_hash_breaks_the_next_link(engine: AsyncEngine) -> None:
    await fill(engine, 5)
    async with engine.begin() as conn:
        row = (await conn.execute(select(LOG).where(LOG.c.seq == 2))).one()
        forged = audit.record_hash(
            seq=2,
            at=row.at,
            event=row.event,
            actor="someone-else",
            message_id=row.message_id,
            agency=row.agency,
            outcome=row.outcome,
            detail=row.detail,
            prev_hash=row.prev_hash,
        )
        await conn.execute(
            update(LOG).where(LOG.c.seq == 2).values(actor="someone-else", hash=forged)
        )
    found = await problems(engine)
    assert any(p.startswith("seq 3:") and "prev_hash" in p for p in found)


async def test_deleted_record_is_named(engine: AsyncEngine) -> None:
    await fill(engine, 5)
    async with engine.begin() as conn:
        await conn.execute(delete(LOG).where(LOG.c.seq == 2))
    found = await problems(engine)
    assert found and found[0].startswith("seq 3:") and "seq 2 deleted" in found[0]


async def test_deleted_tail_is_detected_from_the_chain_head(engine: AsyncEngine) -> None:
    await fill(engine, 5)
    async with engine.begin() as conn:
        await conn.execute(delete(LOG).where(LOG.c.seq >= 4))
    found = await problems(engine)
    assert found == ["seq 4..5: records missing at the end of the chain (head names seq 5)"]


async def test_reordered_records_are_named(engine: AsyncEngine) -> None:
    await fill(engine, 5)
    async with engine.begin() as conn:
        # Swap records 2 and 4 by exchanging their sequence numbers.
        await conn.execute(update(LOG).where(LOG.c.seq == 2).values(seq=-2))
        await conn.execute(update(LOG).where(LOG.c.seq == 4).values(seq=2))
        await conn.execute(update(LOG).where(LOG.c.seq == -2).values(seq=4))
    found = await problems(engine)
    named = {p.split(":")[0] for p in found}
    assert {"seq 2", "seq 4"} <= named


async def test_entries_filter_by_message_agency_and_time(engine: AsyncEngine) -> None:
    await fill(engine, 3)
    async with engine.begin() as conn:
        await audit.append(conn, event="status", agency="000.00.01.H01", message_id="m1")
    async with engine.connect() as conn:
        by_message = await audit.entries(conn, message_id="m1")
        by_agency = await audit.entries(conn, agency="000.00.01.H01")
        later = await audit.entries(conn, since=by_message[-1].at)
    assert [e.event for e in by_message] == ["received", "status"]
    assert [e.seq for e in by_agency] == [4]
    assert [e.seq for e in later] == [4]


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[store]\nurl = "{sqlite_url(tmp_path)}"\n', encoding="utf-8")
    return path


async def test_cli_verify_reports_intact_then_tampered(engine: AsyncEngine, tmp_path: Path) -> None:
    await fill(engine, 3)
    config = write_config(tmp_path)
    runner = CliRunner()
    ok = await asyncio.to_thread(runner.invoke, audit_cli, ["verify", "-c", str(config)])
    assert ok.exit_code == 0, ok.output
    assert "intact: 3 records" in ok.output
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE audit_log SET event = 'forged' WHERE seq = 2"))
    bad = await asyncio.to_thread(runner.invoke, audit_cli, ["verify", "-c", str(config)])
    assert bad.exit_code == 1
    assert "seq 2:" in bad.output


async def test_cli_show_prints_a_message_story_in_order(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.begin() as conn:
        await audit.append(conn, event="received", message_id="abc", agency="A")
        await audit.append(conn, event="received", message_id="other", agency="B")
        await audit.append(conn, event="delivered", message_id="abc", agency="C")
    config = write_config(tmp_path)
    runner = CliRunner()
    args = ["show", "--message", "abc", "--json", "-c", str(config)]
    result = await asyncio.to_thread(runner.invoke, audit_cli, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(x["seq"], x["event"]) for x in lines] == [(1, "received"), (3, "delivered")]
    args = ["show", "--agency", "B", "--since", "2000-01-01", "-c", str(config)]
    text_out = await asyncio.to_thread(runner.invoke, audit_cli, args)
    assert text_out.exit_code == 0 and "other" in text_out.output and "abc" not in text_out.output
    missing = await asyncio.to_thread(runner.invoke, audit_cli, ["show", "-c", str(config)])
    assert missing.exit_code != 0


@pytest.mark.integration
async def test_concurrent_appends_and_tampering_on_every_store(store_url: str) -> None:
    """SQLite and a real PostgreSQL: one chain under concurrency, tampering named by seq."""
    engines = [create_engine(store_url) for _ in range(4)]
    await create_schema(engines[0])
    try:

        async def writer(eng: AsyncEngine, n: int) -> None:
            for j in range(10):
                async with eng.begin() as conn:
                    await audit.append(conn, event="delivered", message_id=f"w{n}-{j}")

        await asyncio.gather(*(writer(eng, n) for n, eng in enumerate(engines)))
        engine = engines[0]
        async with engine.connect() as conn:
            assert [r.seq for r in await audit.entries(conn)] == list(range(1, 41))
            assert await audit.verify_chain(conn) == []

        async with engine.begin() as conn:
            await conn.execute(update(LOG).where(LOG.c.seq == 7).values(agency="X"))
            await conn.execute(delete(LOG).where(LOG.c.seq == 20))
            await conn.execute(update(LOG).where(LOG.c.seq == 30).values(seq=-30))
            await conn.execute(update(LOG).where(LOG.c.seq == 31).values(seq=30))
            await conn.execute(update(LOG).where(LOG.c.seq == -30).values(seq=31))
        named = {p.split(":")[0] for p in await problems(engine)}
        assert {"seq 7", "seq 21", "seq 30", "seq 31"} <= named
    finally:
        for eng in engines:
            await eng.dispose()


async def test_cli_show_since_lists_every_record_in_the_window(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.begin() as conn:
        await audit.append(conn, event="refused", actor="vxp:SYS-X", outcome="AUTH_FAILED")
        await audit.append(conn, event="received", message_id="m1", agency="A")
    async with engine.connect() as conn:
        (first, second) = await audit.entries(conn)
    config = write_config(tmp_path)
    runner = CliRunner()
    args = ["show", "--since", first.at.isoformat(), "--json", "-c", str(config)]
    everything = await asyncio.to_thread(runner.invoke, audit_cli, args)
    assert everything.exit_code == 0, everything.output
    seqs = [json.loads(line)["seq"] for line in everything.output.splitlines()]
    assert seqs == [first.seq, second.seq]
    args = ["show", "--since", second.at.isoformat(), "--until", second.at.isoformat(), "-c"]
    empty = await asyncio.to_thread(runner.invoke, audit_cli, [*args, str(config)])
    assert empty.exit_code == 1  # the window [T, T) holds nothing
    both = ["show", "--message", "m1", "--agency", "A", "-c", str(config)]
    assert (await asyncio.to_thread(runner.invoke, audit_cli, both)).exit_code != 0
