"""Read-only queries for the operator console: today's traffic, the hourly series, the
delivery backlog and document search. Every function runs in the caller's connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.models import Delivery, Message
from gateway.store.rows import _MESSAGE_COLS, MessageRow, _row

WAITING_STATES = ("pending", "published", "retrying")


@dataclass(frozen=True)
class Backlog:
    """Deliveries not yet handed over: how many wait, how many are parked, the oldest."""

    waiting: int
    parked: int
    oldest_waiting: datetime | None


def _hour(conn: AsyncConnection, column: Any) -> Any:
    if conn.dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H", column)
    return func.to_char(func.date_trunc("hour", column), "YYYY-MM-DD HH24")


async def hourly(
    conn: AsyncConnection, *, since: datetime, hours: int = 24
) -> tuple[list[datetime], list[int], list[int]]:
    """Per UTC hour from ``since`` (rounded down): documents accepted (in) and deliveries
    handed to their recipients (out). Returns the hour starts and the two series."""
    start = since.replace(minute=0, second=0, microsecond=0)
    slots = [start + timedelta(hours=i) for i in range(hours)]
    index = {s.strftime("%Y-%m-%d %H"): i for i, s in enumerate(slots)}
    series_in, series_out = [0] * hours, [0] * hours
    m, d = Message.__table__.c, Delivery.__table__.c
    for column, kind_filter, target in (
        (m.accepted_at, m.kind == "document", series_in),
        (d.delivered_at, d.delivered_at.is_not(None), series_out),
    ):
        bucket = _hour(conn, column)
        query = select(bucket, func.count()).where(kind_filter, column >= start).group_by(bucket)
        for key, count in (await conn.execute(query)).all():
            slot = index.get(str(key))
            if slot is not None:
                target[slot] = int(count)
    return slots, series_in, series_out


async def backlog(conn: AsyncConnection) -> Backlog:
    """Count waiting and parked deliveries and find the oldest waiting one."""
    d = Delivery.__table__.c
    waiting, oldest = (
        await conn.execute(
            select(func.count(), func.min(d.created_at)).where(d.state.in_(WAITING_STATES))
        )
    ).one()
    parked = await conn.scalar(select(func.count()).where(d.state == "parked"))
    if isinstance(oldest, str):  # SQLite aggregates lose the column type
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    return Backlog(int(waiting or 0), int(parked or 0), oldest)


async def documents_between(conn: AsyncConnection, start: datetime, end: datetime) -> int:
    """Count document packets accepted in ``[start, end)``."""
    m = Message.__table__.c
    query = select(func.count()).where(
        m.kind == "document", m.accepted_at >= start, m.accepted_at < end
    )
    return int(await conn.scalar(query) or 0)


async def delivered_between(conn: AsyncConnection, start: datetime, end: datetime) -> int:
    """Count deliveries handed to their recipients in ``[start, end)``."""
    d = Delivery.__table__.c
    query = select(func.count()).where(d.delivered_at >= start, d.delivered_at < end)
    return int(await conn.scalar(query) or 0)


async def search_messages(
    conn: AsyncConnection,
    *,
    text: str = "",
    agency: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    state: str = "",
    kind: str = "document",
    limit: int = 100,
) -> list[MessageRow]:
    """Find messages by message id or any part of the DocumentId (``text``), by agency
    (sender or recipient), acceptance time ``[start, end)`` and a recipient's delivery
    state; newest first."""
    m, d = Message.__table__.c, Delivery.__table__.c
    query = select(*_MESSAGE_COLS)
    if kind:
        query = query.where(m.kind == kind)
    if text:
        query = query.where(
            # A DocumentId is "sender,date,number/notation": a part of it also finds the
            # CodeNumber/CodeNotation (a scan, bounded by the other filters and the limit).
            or_(m.id == text, m.document_id.contains(text, autoescape=True))
        )
    if agency:
        to_agency = exists().where(
            d.message_id == m.id, or_(d.resolved_code == agency, d.recipient_code == agency)
        )
        query = query.where(or_(m.sender == agency, to_agency))
    if state:
        query = query.where(exists().where(d.message_id == m.id, d.state == state))
    if start is not None:
        query = query.where(m.accepted_at >= start)
    if end is not None:
        query = query.where(m.accepted_at < end)
    query = query.order_by(m.accepted_at.desc(), m.id.desc()).limit(limit)
    rows = (await conn.execute(query)).mappings().all()
    return [_row(MessageRow, r) for r in rows]


async def recipients_of(conn: AsyncConnection, message_ids: list[str]) -> dict[str, list[Any]]:
    """Return ``(resolved_code, state)`` of every delivery of the given messages."""
    d = Delivery.__table__.c
    found: dict[str, list[Any]] = {}
    if not message_ids:
        return found
    query = select(d.message_id, d.resolved_code, d.state).where(d.message_id.in_(message_ids))
    for message_id, code, state in (await conn.execute(query)).all():
        found.setdefault(message_id, []).append((code, state))
    return found
