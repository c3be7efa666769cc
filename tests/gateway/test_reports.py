"""Activity report per agency over a period, inactive agencies, CSV/JSON and the CLI."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

import gateway.directory.tables  # noqa: F401  (registers the directory tables for the CLI)
from gateway.commands.report import app as report_cli
from gateway.ops.reports import DirectoryEntry, activity_report
from gateway.store.database import create_engine, create_schema
from gateway.store.models import Delivery, Message, StatusHistory

A, B, C, D, E = "000.00.00.A01", "000.00.00.B01", "000.00.00.C01", "000.00.00.D01", "000.00.00.E01"
START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2025, 7, 1, tzinfo=UTC)


def at(month: int, day: int, hour: int = 8, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def message(mid: str, kind: str, sender: str, accepted: datetime, related: str | None = None):
    return {
        "id": mid,
        "kind": kind,
        "sender": sender,
        "document_id": f"doc-{mid}",
        "content_sha256": mid.ljust(64, "0"),
        "blob_key": mid,
        "size": 1000,
        "caller_system": "qlvb",
        "accepted_at": accepted,
        "legal_receipt_at": accepted,
        "signature_status": "valid",
        "related_message_id": related,
        "status_code": 3 if kind == "status" else None,
        "receipt_json": "{}",
    }


def delivery(did: str, mid: str, code: str, created: datetime, delivered: datetime | None):
    return {
        "id": did,
        "message_id": mid,
        "recipient_code": code,
        "resolved_code": code,
        "endpoint_kind": "mailbox",
        "state": "acked" if delivered else "pending",
        "attempts": 1,
        "created_at": created,
        "updated_at": created,
        "delivered_at": delivered,
        "acked_at": delivered + timedelta(minutes=1) if delivered else None,
    }


def status(mid: str, code: str, value: int, when: datetime) -> dict:
    return {"document_message_id": mid, "recipient_code": code, "status_code": value, "at": when}


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    await create_schema(eng)
    m1, m2, m0 = at(1, 10), at(2, 20), at(12, 1, year=2024)
    async with eng.begin() as conn:
        await conn.execute(
            insert(Message),
            [
                message("m0", "document", A, m0),
                message("m1", "document", A, m1),
                message("m2", "document", A, m2),
                message("s1", "status", B, at(1, 10, 12), related="m1"),
                message("s2", "status", B, at(3, 1), related="m2"),
            ],
        )
        await conn.execute(
            insert(Delivery),
            [
                delivery("d0", "m0", C, m0, m0 + timedelta(minutes=1)),
                delivery("d1", "m1", B, m1, m1 + timedelta(minutes=1)),
                delivery("d2", "m1", C, m1, m1 + timedelta(minutes=1)),
                delivery("d3", "m2", B, m2, None),
            ],
        )
        await conn.execute(
            insert(StatusHistory),
            [
                status("m1", B, 1, m1 + timedelta(minutes=2)),
                status("m1", B, 3, m1 + timedelta(hours=2)),
                status("m1", B, 3, m1 + timedelta(hours=9)),  # a repeat: the first one counts
                status("m2", B, 3, m2 + timedelta(hours=4)),
                status("m1", C, 3, m1 + timedelta(hours=10)),
                status("m0", C, 3, m0 + timedelta(hours=1)),  # document outside the period
            ],
        )
    yield eng
    await eng.dispose()


DIRECTORY = [
    DirectoryEntry(A, "Văn phòng Chính phủ"),
    DirectoryEntry(B, "Bộ Tài chính"),
    DirectoryEntry(C, "Bộ Nội vụ"),
    DirectoryEntry(D, "Sở Tư pháp"),
    DirectoryEntry(E, "Cơ quan đã giải thể", status="dissolved"),
]


async def test_counts_medians_and_last_activity(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        report = await activity_report(conn, start=START, end=END, directory=DIRECTORY)
    lines = {line.code: line for line in report.agencies}
    assert list(lines) == [A, B, C, D, E]
    a, b, c, d = lines[A], lines[B], lines[C], lines[D]
    assert (a.sent, a.received, a.statuses_answered) == (2, 0, 0)
    assert (b.sent, b.received, b.statuses_answered) == (0, 2, 2)
    assert (c.sent, c.received, c.statuses_answered) == (0, 1, 0)
    assert a.median_seconds_to_status_03 is None
    assert b.median_seconds_to_status_03 == 3 * 3600  # 2 h and 4 h
    assert c.median_seconds_to_status_03 == 10 * 3600
    assert a.last_activity == at(2, 20)
    assert b.last_activity == at(3, 1)
    assert c.last_activity == at(1, 10) + timedelta(minutes=2)  # acknowledged the delivery
    assert d.last_activity is None and d.sent == 0
    assert b.name == "Bộ Tài chính"
    assert report.inactive == []


async def test_inactive_agencies_are_listed_from_the_end_of_the_period(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        report = await activity_report(
            conn, start=START, end=END, directory=DIRECTORY, inactive_days=140
        )
    # Threshold 2025-02-11: A (Feb 20) and B (Mar 1) are active; C, D idle; E dissolved.
    assert report.inactive == [C, D]
    assert {line.code for line in report.agencies if line.inactive} == {C, D}


async def test_extra_activity_from_the_directory_counts(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        report = await activity_report(
            conn,
            start=START,
            end=END,
            directory=DIRECTORY,
            activity={D: at(6, 1), C: at(8, 1)},  # C's is after the period: ignored
            inactive_days=140,
        )
    assert report.inactive == [C]


async def test_csv_and_json_forms(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        report = await activity_report(conn, start=START, end=END, directory=DIRECTORY)
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    by_code = {row["code"]: row for row in rows}
    assert by_code[B]["median_hours_to_status_03"] == "3.0"
    assert by_code[B]["name"] == "Bộ Tài chính"
    assert by_code[D]["last_activity"] == ""
    data = json.loads(report.to_json())
    assert data["from"] == "2025-01-01T00:00:00+00:00"
    assert data["agencies"][0]["last_activity"] == "2025-02-20T08:00:00+00:00"


async def test_cli_activity_report(engine: AsyncEngine, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "gateway.db"}"\n')
    runner = CliRunner()
    args = ["activity", "--from", "2025-01-01", "--to", "2025-06-30", "-c", str(config)]
    result = await asyncio.to_thread(runner.invoke, report_cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["to"] == "2025-07-01T00:00:00+00:00"
    assert {x["code"]: x["sent"] for x in data["agencies"]} == {A: 2, B: 0, C: 0}

    out = tmp_path / "report.csv"
    args += ["--inactive-days", "140", "-o", str(out)]
    result = await asyncio.to_thread(runner.invoke, report_cli, args)
    assert result.exit_code == 0, result.output
    assert "1 agencies without activity for 140 days / 1 đơn vị" in result.stderr
    assert result.stderr.rstrip().endswith(C)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert {row["code"]: row["inactive"] for row in rows} == {A: "False", B: "False", C: "True"}

    backwards = ["activity", "--from", "2025-06-30", "--to", "2025-01-01", "-c", str(config)]
    assert (await asyncio.to_thread(runner.invoke, report_cli, backwards)).exit_code != 0
