"""The directory's side records: signer certificates, last activity, the change log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.directory.tables import AGENCIES, CERTIFICATES, CHANGES, chunks, utc


async def load_activity(conn: AsyncConnection) -> dict[str, datetime]:
    """Return the last send/receive instant of every agency that has one."""
    rows = await conn.execute(
        select(AGENCIES.c.code, AGENCIES.c.last_activity_at).where(
            AGENCIES.c.last_activity_at.is_not(None)
        )
    )
    return {code: utc(at) for code, at in rows.all()}  # type: ignore[misc]


# -- write --------------------------------------------------------------------------------


async def store_certificate(
    conn: AsyncConnection,
    code: str,
    fingerprint: str,
    *,
    pem: str,
    subject: str | None,
    not_before: datetime | None,
    not_after: datetime | None,
) -> None:
    """Record the PEM and validity of a certificate already listed for ``code``."""
    await conn.execute(
        update(CERTIFICATES)
        .where(CERTIFICATES.c.code == code, CERTIFICATES.c.fingerprint == fingerprint)
        .values(pem=pem, subject=subject, not_before=utc(not_before), not_after=utc(not_after))
    )


async def certificate_rows(conn: AsyncConnection, code: str) -> list[dict[str, Any]]:
    """Return the certificate rows (fingerprint, subject, validity, PEM) of one agency."""
    rows = await conn.execute(
        select(CERTIFICATES).where(CERTIFICATES.c.code == code).order_by(CERTIFICATES.c.fingerprint)
    )
    return [
        {
            "fingerprint": r.fingerprint,
            "subject": r.subject,
            "pem": r.pem,
            "not_before": utc(r.not_before),
            "not_after": utc(r.not_after),
        }
        for r in rows.all()
    ]


async def record_activity(conn: AsyncConnection, activity: dict[str, datetime]) -> None:
    """Raise ``last_activity_at`` to the given instants (never lowers it)."""
    stmt = (
        update(AGENCIES)
        .where(AGENCIES.c.code == bindparam("b_code"))
        .where(
            (AGENCIES.c.last_activity_at.is_(None))
            | (AGENCIES.c.last_activity_at < bindparam("b_at"))
        )
        .values(last_activity_at=bindparam("b_at"))
    )
    rows = [{"b_code": code, "b_at": utc(at)} for code, at in activity.items()]
    for part in chunks(rows):
        await conn.execute(stmt, list(part))


async def inactive_codes(
    conn: AsyncConnection, cutoff: datetime
) -> list[tuple[str, datetime | None]]:
    """Return (code, last activity) of active agencies idle since before ``cutoff``; an
    agency never active counts from its creation."""
    query = (
        select(AGENCIES.c.code, AGENCIES.c.last_activity_at)
        .where(AGENCIES.c.status == "active")
        .where(
            (AGENCIES.c.last_activity_at < cutoff)
            | (AGENCIES.c.last_activity_at.is_(None) & (AGENCIES.c.created_at < cutoff))
        )
        .order_by(AGENCIES.c.code)
    )
    return [(code, utc(at)) for code, at in (await conn.execute(query)).all()]


async def change_log(
    conn: AsyncConnection, *, code: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Return the latest directory change records, newest first (optionally for one code)."""
    query = select(CHANGES).order_by(CHANGES.c.id.desc()).limit(limit)
    if code is not None:
        query = query.where(CHANGES.c.code == code)
    return [
        {
            "id": r.id,
            "version": r.version,
            "at": utc(r.at),
            "actor": r.actor,
            "action": r.action,
            "code": r.code,
            "reason": r.reason,
            "before": r.before,
            "after": r.after,
        }
        for r in (await conn.execute(query)).all()
    ]


async def count_agencies(conn: AsyncConnection) -> int:
    """Return how many agency rows the store holds."""
    return int(await conn.scalar(select(func.count()).select_from(AGENCIES)) or 0)
