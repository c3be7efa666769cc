"""Báo cáo (reports): the six-monthly activity report, on screen and as CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import cast

from aiohttp import web

from adapters.console.web import VN, record, render
from gateway import appkeys
from gateway.directory.records import load_activity
from gateway.directory.resolver import InMemoryDirectory
from gateway.ops.reports import ActivityReport, DirectoryEntry, activity_report

SCREEN_ROWS = 1000


def _period(query: web.Request) -> tuple[date, date]:
    """The half-year containing today by default, else ``from``/``to`` (YYYY-MM-DD)."""
    today = datetime.now(VN).date()
    first = date(today.year, 1 if today.month <= 6 else 7, 1)
    try:
        start = date.fromisoformat(query.query.get("from", "") or first.isoformat())
        end = date.fromisoformat(query.query.get("to", "") or today.isoformat())
    except ValueError:
        start, end = first, today
    return start, max(start, end)


async def _report(request: web.Request, start: date, end: date, idle: int | None) -> ActivityReport:
    engine = request.config_dict[appkeys.ENGINE]
    directory = cast(InMemoryDirectory, request.config_dict[appkeys.DIRECTORY])
    entries = [DirectoryEntry(a.code, a.name, a.status) for a in directory]
    async with engine.connect() as conn:
        return await activity_report(
            conn,
            start=datetime.combine(start, time(), tzinfo=VN).astimezone(UTC),
            end=datetime.combine(end + timedelta(days=1), time(), tzinfo=VN).astimezone(UTC),
            directory=entries,
            activity=await load_activity(conn),
            inactive_days=idle,
        )


def _idle(request: web.Request) -> int | None:
    value = request.query.get("inactive_days", "")
    return int(value) if value.isdigit() and 0 < int(value) < 10_000 else None


async def activity(request: web.Request) -> web.StreamResponse:
    """``?from=DATE&to=DATE&inactive_days=N[&format=csv]``."""
    start, end = _period(request)
    idle = _idle(request)
    report = await _report(request, start, end, idle)
    if request.query.get("format") == "csv":
        await record(
            request,
            "report.activity",
            detail={"via": "console", "from": start.isoformat(), "to": end.isoformat()},
        )
        return web.Response(
            body=("\ufeff" + report.to_csv()).encode("utf-8"),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="activity-{start}-{end}.csv"'},
        )
    busy = [a for a in report.agencies if a.sent or a.received or a.statuses_answered]
    return render(
        request,
        "report.html",
        {
            "report": report,
            "busy": busy[:SCREEN_ROWS],
            "busy_total": len(busy),
            "start": start,
            "end": end,
            "inactive_days": idle or "",
        },
    )
