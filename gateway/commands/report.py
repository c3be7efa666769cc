"""`edoc-gateway report ...` commands: the per-agency activity report."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gateway.commands.audit import ConfigOption, parse_when, store_connection
from gateway.directory.records import load_activity
from gateway.directory.store import load_agencies
from gateway.ops.reports import ActivityReport, DirectoryEntry, activity_report

app = typer.Typer(help="Reports for operators.", no_args_is_help=True)


@app.callback()
def reports() -> None:
    """Reports for operators (a group, so ``report activity`` keeps its name)."""


class Format(StrEnum):
    """Output format of a report."""

    csv = "csv"
    json = "json"


@app.command("activity")
def activity(
    start: Annotated[str, typer.Option("--from", help="first day (YYYY-MM-DD), included")],
    end: Annotated[str, typer.Option("--to", help="last day (YYYY-MM-DD), included")],
    fmt: Annotated[Format, typer.Option("--format", help="csv or json")] = Format.csv,
    inactive_days: Annotated[
        int | None,
        typer.Option("--inactive-days", min=1, help="also list agencies idle this many days"),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write")] = None,
    config: ConfigOption = None,
) -> None:
    """Per agency: documents sent and received, statuses answered, median time to status 03,
    last activity; with ``--inactive-days`` the agencies idle that long."""
    period_start = parse_when(start)
    period_end = parse_when(end, end_of_day=True)
    if period_end <= period_start:
        raise typer.BadParameter("--to is before --from / --to trước --from")

    async def run() -> ActivityReport:
        async with store_connection(config) as conn:
            agencies = await load_agencies(conn)
            entries = [DirectoryEntry(a.code, a.name, a.status) for a in agencies]
            return await activity_report(
                conn,
                start=period_start,
                end=period_end,
                directory=entries,
                activity=await load_activity(conn),
                inactive_days=inactive_days,
            )

    report = asyncio.run(run())
    text = report.to_json() if fmt is Format.json else report.to_csv()
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=not text.endswith("\n"))
    if inactive_days is not None and fmt is Format.csv:
        typer.echo(
            f"{len(report.inactive)} agencies without activity for {inactive_days} days / "
            f"{len(report.inactive)} đơn vị không hoạt động trong {inactive_days} ngày: "
            + ", ".join(report.inactive),
            err=True,
        )
