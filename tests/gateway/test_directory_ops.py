"""Tests of directory persistence and changes on SQLite: import diffs, lifecycle, audit,
and a running SqlDirectory seeing changes without restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import chain as audit
from gateway.directory.certs import add_certificate
from gateway.directory.changes import (
    bind_system,
    dissolve,
    import_agencies,
    inactive,
    merge,
    parse_import,
    rename,
    set_endpoint,
    set_status,
    split,
)
from gateway.directory.formats import parse, to_csv, to_json
from gateway.directory.live import SqlDirectory
from gateway.directory.records import certificate_rows, change_log
from gateway.directory.resolver import Agency, Endpoint
from gateway.directory.store import load_agencies
from gateway.directory.sync import seed, sync_once
from gateway.errors import AgencyDissolved, AgencyInactive, CodeUnknown, DirectoryChangeRefused
from gateway.store.database import create_engine, create_schema
from tests import pki

pytestmark = pytest.mark.integration  # runs on SQLite and on a real PostgreSQL

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "directory.sample.csv"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(store_url)
    await create_schema(engine)
    yield engine
    await engine.dispose()


async def imported(engine: AsyncEngine) -> SqlDirectory:
    await import_agencies(engine, parse_import(SAMPLE.read_bytes(), "csv"), actor="test")
    directory = SqlDirectory(engine)
    await directory.load()
    return directory


async def test_import_sample_then_reimport_is_a_no_op(engine: AsyncEngine) -> None:
    first = await import_agencies(engine, parse(SAMPLE.read_bytes(), "csv"), actor="op")
    assert len(first.added) == 96 and not first.changed and not first.retired
    again = await import_agencies(engine, parse(SAMPLE.read_bytes(), "csv"), actor="op")
    assert not again and again.unchanged == 96
    async with engine.connect() as conn:
        assert len(await change_log(conn, limit=1000)) == 96
        assert await audit.verify_chain(conn) == []


async def test_import_diff_reports_changed_and_retired(engine: AsyncEngine) -> None:
    directory = await imported(engine)
    rows = [a for a in directory if a.code != "000.00.00.H01"]
    rows = [a if a.code != "000.00.00.H02" else Agency(a.code, "Tên mới", level=1) for a in rows]
    result = await import_agencies(engine, parse(to_csv(rows), "csv"), actor="op", at=T0)
    assert [a.code for a in result.added] == []
    assert [after.name for _, after in result.changed] == ["Tên mới"]
    assert [after.code for _, after in result.retired] == ["000.00.00.H01"]
    await directory.refresh()
    with pytest.raises(AgencyDissolved):
        directory.resolve("000.00.00.H01")
    assert directory.resolve("000.00.00.H02").agency.name == "Tên mới"
    async with engine.connect() as conn:
        log = await change_log(conn, code="000.00.00.H02")
    assert log[0]["actor"] == "op" and log[0]["action"] == "change"
    assert log[0]["before"]["name"] == "UBND Tỉnh Bà Rịa - Vũng Tàu"
    assert log[0]["after"]["name"] == "Tên mới"


async def test_import_is_atomic_and_validated(engine: AsyncEngine) -> None:
    with pytest.raises(DirectoryChangeRefused):
        parse_import(b"code,name\nA,x\nA,y\n", "csv")
    with pytest.raises(DirectoryChangeRefused):
        parse_import(b"name\nx\n", "csv")
    with pytest.raises(DirectoryChangeRefused):
        parse_import(b"{not json", "json")
    async with engine.connect() as conn:
        assert await load_agencies(conn) == []


async def test_axis_shape_import_keeps_local_fields(engine: AsyncEngine) -> None:
    await imported(engine)
    await set_endpoint(
        engine, "000.00.00.H41", Endpoint("push", url="https://na.example/in"), actor="op"
    )
    axis = [
        {
            "code": "000.00.00.H41",
            "code102": "H41",
            "name": "UBND tỉnh Nghệ An",
            "pid": None,
            "mail": "ubnd@nghean.gov.vn",
        },
        {
            "code": "000.99.41.H41",
            "oldCode": "H41.99",
            "name": "Sở mới",
            "pid": "000.00.00.H41",
            "mail": "",
        },
    ]
    result = await import_agencies(
        engine, parse(json.dumps(axis), "axis"), actor="op", retire_missing=False
    )
    assert [a.code for a in result.added] == ["000.99.41.H41"]
    directory = SqlDirectory(engine)
    await directory.load()
    nghe_an = directory.resolve("H41").agency
    assert nghe_an.endpoint == Endpoint("push", url="https://na.example/in")
    assert nghe_an.mail == "ubnd@nghean.gov.vn" and nghe_an.name == "UBND tỉnh Nghệ An"
    assert directory.resolve("H41.99").agency.parent_code == "000.00.00.H41"


async def test_rename_to_new_code_redirects_old_code(engine: AsyncEngine) -> None:
    directory = await imported(engine)
    await bind_system(engine, "000.02.41.H41", "qlvb-stt", actor="op")
    created = await rename(
        engine, "H41.02", new_code="000.12.41.H41", name="Sở KH&CN", actor="op", at=T0
    )
    assert created.old_code == "000.02.41.H41" and created.systems == ("qlvb-stt",)
    await directory.refresh()
    resolution = directory.resolve("000.02.41.H41")
    assert resolution.agency.code == "000.12.41.H41"
    assert resolution.via == ("000.02.41.H41",)
    assert directory.agencies_for_system("qlvb-stt") == frozenset({"000.12.41.H41"})
    with pytest.raises(DirectoryChangeRefused):
        await rename(engine, "000.12.41.H41", new_code="000.00.00.H41", actor="op")


async def test_merge_split_dissolve_with_effective_dates(engine: AsyncEngine) -> None:
    directory = await imported(engine)
    future = datetime.now(UTC) + timedelta(days=30)
    await merge(engine, ["000.00.00.H23", "000.00.00.H42"], "000.00.00.H40", actor="op", at=T0)
    await split(engine, "000.00.00.H17", ["000.00.00.H16", "000.00.00.H18"], actor="op", at=T0)
    await dissolve(engine, "000.00.00.H63", actor="op", at=future)
    with pytest.raises(DirectoryChangeRefused):
        await merge(engine, ["000.00.00.H40"], "000.00.00.H40", actor="op")
    with pytest.raises(CodeUnknown):
        await split(engine, "000.00.00.H20", ["000.00.00.H16", "X.NOPE"], actor="op")
    await directory.refresh()
    assert directory.resolve("000.00.00.H42").agency.code == "000.00.00.H40"
    with pytest.raises(AgencyDissolved) as caught:
        directory.resolve("000.00.00.H17")
    assert "000.00.00.H16" in caught.value.text_en
    assert directory.resolve("000.00.00.H63").agency.code == "000.00.00.H63"  # not yet
    assert directory.resolve("000.00.00.H20").agency.status == "active"  # split refused


async def test_suspend_inactive_and_reactivate(engine: AsyncEngine) -> None:
    directory = await imported(engine)
    now = datetime.now(UTC)
    directory.record_activity("000.00.00.G22", now + timedelta(days=170))
    directory.record_activity("H41.01", now + timedelta(days=10))
    directory.record_activity("H41.01", now + timedelta(days=5))  # older: ignored
    assert await directory.flush_activity() == 2
    idle = dict(await inactive(engine, days=180, now=now + timedelta(days=185)))
    assert "000.00.00.G22" not in idle and "000.01.41.H41" not in idle
    assert "000.00.00.H14" in idle and "000.00.00.G06" not in idle  # merged is not live
    idle_now = await inactive(engine, days=180, now=now)
    assert idle_now == []
    suspended = await set_status(
        engine, ["000.00.00.H14"], "suspended", actor="op", reason="180 ngày không hoạt động"
    )
    assert [a.code for a in suspended] == ["000.00.00.H14"]
    await directory.refresh()
    with pytest.raises(AgencyInactive):
        directory.resolve("000.00.00.H14")
    await set_status(engine, ["000.00.00.H14"], "active", actor="op")
    await directory.refresh()
    assert directory.resolve("000.00.00.H14").agency.status == "active"
    with pytest.raises(DirectoryChangeRefused):
        await set_status(engine, ["000.00.00.G06"], "suspended", actor="op")


async def test_certificates_are_recorded_with_pem(engine: AsyncEngine) -> None:
    await imported(engine)
    ca = pki.make_ca("CA thử nghiệm")
    signer = pki.make_leaf(ca, "Văn thư VPCP", "ec")
    pem = signer.cert_pem.decode()
    fingerprint = await add_certificate(engine, "000.00.00.G22", pem, actor="op")
    assert len(fingerprint) == 64
    async with engine.connect() as conn:
        rows = await certificate_rows(conn, "000.00.00.G22")
    assert rows[0]["fingerprint"] == fingerprint and rows[0]["pem"].startswith("-----BEGIN")
    assert rows[0]["not_after"] > rows[0]["not_before"]
    directory = SqlDirectory(engine)
    await directory.load()
    assert directory.resolve("000.00.00.G22").agency.certificates == (fingerprint,)
    with pytest.raises(DirectoryChangeRefused):
        await add_certificate(engine, "000.00.00.G22", "not a certificate", actor="op")


class FakeAxis:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    async def fetch(self) -> list[dict[str, Any]]:
        return self.records


async def test_sync_applies_upstream_list_and_guards_truncation(engine: AsyncEngine) -> None:
    axis = [
        {"code": f"000.00.{i:02d}.H41", "name": f"Đơn vị {i}", "pid": "000.00.00.H41"}
        for i in range(1, 21)
    ]
    first = await sync_once(engine, FakeAxis(axis))
    assert len(first.added) == 20
    directory = SqlDirectory(engine)
    await directory.load()
    assert directory.resolve("000.00.05.H41").agency.endpoint == Endpoint("peer", node="axis")
    second = await sync_once(engine, FakeAxis(axis[:19]))
    assert [after.code for _, after in second.retired] == ["000.00.20.H41"]
    with pytest.raises(DirectoryChangeRefused):
        await sync_once(engine, FakeAxis([]))
    async with engine.connect() as conn:
        assert len(await load_agencies(conn)) == 20


async def test_seed_only_fills_an_empty_store(engine: AsyncEngine) -> None:
    first = await seed(engine, data=SAMPLE.read_bytes(), fmt="csv")
    assert first is not None and len(first.added) == 96
    assert await seed(engine, records=[{"code": "X", "name": "x"}]) is None


async def test_running_directory_sees_change_without_restart(engine: AsyncEngine) -> None:
    await imported(engine)
    directory = SqlDirectory(engine, poll_interval=0.05)
    await directory.start()
    try:
        await set_status(engine, ["000.00.00.H41"], "suspended", actor="op")
        for _ in range(400):  # generous bound only to avoid a hang
            if directory.get("000.00.00.H41").status == "suspended":  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
        with pytest.raises(AgencyInactive):
            directory.resolve("000.00.00.H41")
    finally:
        await directory.close()


async def test_export_round_trips_through_json(engine: AsyncEngine) -> None:
    directory = await imported(engine)
    exported = to_json(directory)
    again = await import_agencies(engine, parse(exported, "json"), actor="op")
    assert not again and again.unchanged == len(directory)


async def test_bulk_import_beyond_one_batch(engine: AsyncEngine) -> None:
    rows = [
        {
            "code": f"{i // 100:03d}.{i % 100:02d}.01.H41",
            "name": f"Đơn vị {i}",
            "old_code": f"H41.B{i}",
            "parent_code": "000.00.00.H41",
            "effective_at": None,
        }
        for i in range(6_500)
    ]
    result = await import_agencies(engine, parse(json.dumps(rows), "json"), actor="bulk")
    assert len(result.added) == 6_500
    directory = SqlDirectory(engine)
    await directory.load()
    assert len(directory) == 6_500
    assert directory.resolve("H41.B6499").agency.name == "Đơn vị 6499"
    async with engine.connect() as conn:
        log = await change_log(conn, code="064.99.01.H41")
    assert log[0]["actor"] == "bulk" and log[0]["after"]["old_code"] == "H41.B6499"
    assert log[0]["at"].tzinfo is not None
