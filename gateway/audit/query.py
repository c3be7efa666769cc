"""Searching the audit chain for the operator console: by time, door, caller, code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.chain import AuditRecord, Entry, _entry, _utc


async def search(
    conn: AsyncConnection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    door: str = "",
    caller: str = "",
    code: str = "",
    event: str = "",
    message_id: str = "",
    limit: int = 200,
) -> list[Entry]:
    """Return audit records, newest first, matching every filter given.

    ``door`` matches the ``via`` of the record's detail (rest, vxp, soap, edge, console...)
    or the start of its event; ``caller`` the actor (prefix); ``code`` the outcome (an
    error code, or ``ok``) or the agency code.
    """
    log = AuditRecord.__table__
    query = select(log).order_by(log.c.seq.desc()).limit(limit)
    if since is not None:
        query = query.where(log.c.at >= _utc(since))
    if until is not None:
        query = query.where(log.c.at < _utc(until))
    if caller:
        query = query.where(log.c.actor.startswith(caller, autoescape=True))
    if code:
        query = query.where(or_(log.c.outcome == code, log.c.agency == code))
    if event:
        query = query.where(log.c.event.startswith(event, autoescape=True))
    if message_id:
        query = query.where(log.c.message_id == message_id)
    if door:
        via = log.c.detail["via"].as_string()
        query = query.where(or_(via == door, log.c.event.startswith(door, autoescape=True)))
    return [_entry(row) for row in (await conn.execute(query)).all()]


async def count(conn: AsyncConnection) -> int:
    """Return how many records the chain holds."""
    return int(await conn.scalar(select(func.count()).select_from(AuditRecord.__table__)) or 0)
