"""`edoc-gateway audit ...` commands: verify the hash chain, show a document's story."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import chain as audit
from gateway.config import load_settings
from gateway.store.database import create_engine
from gateway.store.models import Delivery, Message, StatusHistory

app = typer.Typer(help="Audit trail: verify the chain, show records.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="gateway TOML file (else EDOC_ variables)")
]


@asynccontextmanager
async def store_connection(config: Path | None) -> AsyncIterator[AsyncConnection]:
    """Open the configured store and yield one read connection (commands only)."""
    settings = load_settings(config)
    engine = create_engine(settings.store.url)
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


def parse_when(value: str, *, end_of_day: bool = False) -> datetime:
    """Parse ``YYYY-MM-DD`` or an ISO 8601 instant (naive means UTC).

    A bare date is its midnight, or the next midnight when ``end_of_day`` (an inclusive
    ``--to`` date then covers that whole day).
    """
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if end_of_day:
                day = date.fromordinal(day.toordinal() + 1)
            return datetime.combine(day, time(), tzinfo=UTC)
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"not a date: {value!r} / không phải ngày hợp lệ (YYYY-MM-DD)"
        ) from exc
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


@app.command("verify")
def verify(config: ConfigOption = None) -> None:
    """Check the whole audit chain; exit 1 and name each broken record if tampered with."""

    async def run() -> tuple[int, list[str]]:
        async with store_connection(config) as conn:
            count = await conn.scalar(select(func.count()).select_from(audit.AuditRecord))
            return int(count or 0), await audit.verify_chain(conn)

    count, problems = asyncio.run(run())
    if problems:
        for problem in problems:
            typer.echo(problem)
        typer.echo(
            f"audit chain BROKEN: {len(problems)} problem(s) / "
            f"chuỗi nhật ký bị thay đổi: {len(problems)} lỗi",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {count} records / chuỗi nhật ký toàn vẹn: {count} bản ghi")


async def _related_ids(conn: AsyncConnection, message_id: str) -> list[str]:
    """The message, its deliveries and the status packets answering it."""
    m, d = Message.__table__, Delivery.__table__
    ids = [message_id]
    ids += [r[0] for r in (await conn.execute(select(d.c.id).where(d.c.message_id == message_id)))]
    query = select(m.c.id).where(m.c.related_message_id == message_id)
    ids += [r[0] for r in (await conn.execute(query))]
    return ids


async def _store_story(conn: AsyncConnection, message_id: str) -> list[str]:
    m, d, sh = Message.__table__, Delivery.__table__, StatusHistory.__table__
    lines: list[str] = []
    row = (await conn.execute(select(m).where(m.c.id == message_id))).first()
    if row is None:
        return lines
    lines.append(
        f"message {row.id} {row.kind} from {row.sender} document {row.document_id} "
        f"accepted {row.accepted_at.isoformat()} signature {row.signature_status}"
    )
    for dl in (await conn.execute(select(d).where(d.c.message_id == message_id))).all():
        lines.append(
            f"  delivery {dl.id} to {dl.recipient_code}->{dl.resolved_code} via "
            f"{dl.endpoint_kind}: {dl.state}, {dl.attempts} attempt(s)"
            + (f", last error: {dl.last_error}" if dl.last_error else "")
        )
    statuses = select(sh).where(sh.c.document_message_id == message_id).order_by(sh.c.at)
    for st in (await conn.execute(statuses)).all():
        lines.append(
            f"  status {st.status_code:02d} from {st.recipient_code} at {st.at.isoformat()}"
        )
    return lines


def _line(entry: audit.Entry) -> str:
    detail = json.dumps(entry.detail, ensure_ascii=False, sort_keys=True) if entry.detail else ""
    fields = [
        f"{entry.seq:>8}",
        entry.at.isoformat(timespec="milliseconds"),
        entry.event,
        entry.outcome,
        entry.actor or "-",
        entry.agency or "-",
        entry.message_id or "-",
        detail,
    ]
    return "  ".join(fields).rstrip()


@app.command("show")
def show(
    message: Annotated[str | None, typer.Option("--message", help="message id")] = None,
    agency: Annotated[str | None, typer.Option("--agency", help="agency code")] = None,
    since: Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD or ISO time")] = None,
    until: Annotated[str | None, typer.Option("--until", help="YYYY-MM-DD or ISO time")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines output")] = False,
    config: ConfigOption = None,
) -> None:
    """Print the audit records of one message (with its deliveries and statuses), of an
    agency, or of every door and caller in a time window (``--since`` alone), in chain order."""
    if message is not None and agency is not None:
        raise typer.BadParameter(
            "give --message or --agency, not both / chỉ dùng một trong --message, --agency"
        )
    if message is None and agency is None and since is None:
        raise typer.BadParameter(
            "give --message, --agency or --since / cần --message, --agency hoặc --since"
        )
    start = parse_when(since) if since else None
    end = parse_when(until, end_of_day=True) if until else None

    async def run() -> tuple[list[audit.Entry], list[str]]:
        async with store_connection(config) as conn:
            if message is not None:
                found: dict[int, audit.Entry] = {}
                for related in await _related_ids(conn, message):
                    for entry in await audit.entries(
                        conn, message_id=related, since=start, until=end
                    ):
                        found[entry.seq] = entry
                return [found[k] for k in sorted(found)], await _store_story(conn, message)
            return await audit.entries(conn, agency=agency, since=start, until=end), []

    entries, story = asyncio.run(run())
    if not entries and not story:
        typer.echo("no audit record found / không có bản ghi nhật ký", err=True)
        raise typer.Exit(1)
    for entry in entries:
        typer.echo(json.dumps(entry.as_dict(), ensure_ascii=False) if as_json else _line(entry))
    if story and not as_json:
        typer.echo("")
        for line in story:
            typer.echo(line)
