"""Tamper-evident audit trail: an append-only, hash-chained ``audit_log`` table.

Every record carries the SHA-256 of its own canonical JSON form (its sequence number, time,
event, actor, message id, agency, outcome and detail) chained to the previous record's hash.
A one-row ``audit_head`` table holds the chain's last sequence number and hash: appending
locks that row first, which serialises appends on PostgreSQL (row lock until commit) and on
SQLite (the write transaction), and lets :func:`verify_chain` notice a truncated tail.

Records are written inside the caller's transaction, so a rolled-back operation leaves no
audit record and a committed one always has its record.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Integer,
    String,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base

GENESIS_HASH = "0" * 64
_HEAD_ID = 1


class AuditRecord(Base):
    """One audit record; rows are only ever inserted, never updated or deleted."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    event: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(128))
    message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    agency: Mapped[str | None] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain head: sequence number and hash of the last appended record (one row)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class Entry:
    """An audit record as read back from the store."""

    seq: int
    at: datetime
    event: str
    actor: str | None
    message_id: str | None
    agency: str | None
    outcome: str
    detail: dict[str, Any] | None
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of this record."""
        return {
            "seq": self.seq,
            "at": _iso(self.at),
            "event": self.event,
            "actor": self.actor,
            "message_id": self.message_id,
            "agency": self.agency,
            "outcome": self.outcome,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def _utc(at: datetime) -> datetime:
    # SQLite hands timestamps back naive; they were written in UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _iso(at: datetime) -> str:
    return _utc(at).isoformat(timespec="microseconds")


def _normalise_detail(detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if detail is None:
        return None
    # Round-trip through JSON so the hashed form equals what the store gives back.
    return json.loads(json.dumps(dict(detail), default=str, ensure_ascii=False))


def record_hash(
    *,
    seq: int,
    at: datetime,
    event: str,
    actor: str | None,
    message_id: str | None,
    agency: str | None,
    outcome: str,
    detail: Mapping[str, Any] | None,
    prev_hash: str,
) -> str:
    """Return the chained SHA-256 (hex) of one record: canonical JSON plus ``prev_hash``."""
    body = {
        "seq": seq,
        "at": _iso(at),
        "event": event,
        "actor": actor,
        "message_id": message_id,
        "agency": agency,
        "outcome": outcome,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(prev_hash.encode("ascii") + canonical.encode("utf-8")).hexdigest()


async def _lock_head(conn: AsyncConnection) -> tuple[int, str]:
    """Lock the chain head row for this transaction and return (last seq, last hash)."""
    head = AuditHead.__table__
    # An UPDATE (not a SELECT) so SQLite takes its write lock before reading the head.
    lock = (
        update(head)
        .where(head.c.id == _HEAD_ID)
        .values(seq=head.c.seq)
        .returning(head.c.seq, head.c.hash)
    )
    row = (await conn.execute(lock)).first()
    if row is None:
        await conn.execute(
            text(
                "INSERT INTO audit_head (id, seq, hash) VALUES (:id, 0, :hash) "
                "ON CONFLICT (id) DO NOTHING"
            ),
            {"id": _HEAD_ID, "hash": GENESIS_HASH},
        )
        row = (await conn.execute(lock)).one()
    return int(row.seq), str(row.hash)


@dataclass(frozen=True)
class Event:
    """One audit record to append (see :func:`append` for the meaning of the fields)."""

    event: str
    actor: str | None = None
    message_id: str | None = None
    agency: str | None = None
    outcome: str = "ok"
    detail: Mapping[str, Any] | None = None


async def append(
    conn: AsyncConnection,
    *,
    event: str,
    actor: str | None = None,
    message_id: str | None = None,
    agency: str | None = None,
    outcome: str = "ok",
    detail: dict | None = None,
) -> None:
    """Write one hash-chained audit record in the caller's transaction.

    ``event`` names what happened (``received``, ``rejected``, ``delivered``, ...), ``actor``
    who did it (system id, ``admin:<name>``, ``worker``), ``outcome`` ``ok`` or an error code,
    ``detail`` any JSON-serialisable mapping (non-JSON values are written as strings).
    Concurrent appends are serialised by the lock on the chain head until the caller commits.
    """
    await append_many(conn, [Event(event, actor, message_id, agency, outcome, detail)])


async def append_many(conn: AsyncConnection, events: Sequence[Event]) -> None:
    """Write several chained audit records in the caller's transaction, in order.

    The hashes are computed in memory and the head row is locked once for the whole batch:
    usually two statements whatever its size (move the head from the value this process
    last wrote, insert the records), three when another writer moved the head meanwhile
    (lock and read it, insert, move it). On PostgreSQL the head's row lock, held until the
    caller commits, keeps several processes on one chain.
    """
    if not events:
        return
    key = conn.engine.sync_engine
    head = AuditHead.__table__
    cached = _head_hint.get(key)
    if cached is not None:
        rows, new_head = _chain(events, *cached)
        # Compare-and-set: moves the head (and locks its row) only if the hint is right.
        moved = await conn.execute(
            update(head)
            .where(head.c.id == _HEAD_ID, head.c.seq == cached[0], head.c.hash == cached[1])
            .values(seq=new_head[0], hash=new_head[1])
        )
        if moved.rowcount == 1:
            await conn.execute(insert(AuditRecord.__table__), rows)
            _head_hint[key] = new_head
            return
    rows, new_head = _chain(events, *await _lock_head(conn))
    await conn.execute(insert(AuditRecord.__table__), rows)
    await conn.execute(
        update(head).where(head.c.id == _HEAD_ID).values(seq=new_head[0], hash=new_head[1])
    )
    _head_hint[key] = new_head


# The chain head this process last wrote, per engine: a hint that saves reading the head.
# It may be stale (a rolled-back transaction, another process appending); the
# compare-and-set above then fails and the head is read under its lock as usual, so a
# stale hint costs one statement and can never fork the chain.
_head_hint: weakref.WeakKeyDictionary[Any, tuple[int, str]] = weakref.WeakKeyDictionary()


def _chain(
    events: Sequence[Event], last_seq: int, last_hash: str
) -> tuple[list[dict[str, Any]], tuple[int, str]]:
    """Return the rows chaining ``events`` after (``last_seq``, ``last_hash``) and the new head."""
    rows = []
    for item in events:
        last_seq += 1
        at = datetime.now(UTC)
        clean = _normalise_detail(item.detail)
        digest = record_hash(
            seq=last_seq,
            at=at,
            event=item.event,
            actor=item.actor,
            message_id=item.message_id,
            agency=item.agency,
            outcome=item.outcome,
            detail=clean,
            prev_hash=last_hash,
        )
        rows.append(
            {
                "seq": last_seq,
                "at": at,
                "event": item.event,
                "actor": item.actor,
                "message_id": item.message_id,
                "agency": item.agency,
                "outcome": item.outcome,
                "detail": clean,
                "prev_hash": last_hash,
                "hash": digest,
            }
        )
        last_hash = digest
    return rows, (last_seq, last_hash)


def _entry(row: Any) -> Entry:
    return Entry(
        seq=int(row.seq),
        at=_utc(row.at),
        event=row.event,
        actor=row.actor,
        message_id=row.message_id,
        agency=row.agency,
        outcome=row.outcome,
        detail=row.detail,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


async def entries(
    conn: AsyncConnection,
    *,
    message_id: str | None = None,
    agency: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[Entry]:
    """Return audit records in chain order, filtered by message id, agency and time."""
    log = AuditRecord.__table__
    query = select(log).order_by(log.c.seq)
    if message_id is not None:
        query = query.where(log.c.message_id == message_id)
    if agency is not None:
        query = query.where(log.c.agency == agency)
    if since is not None:
        query = query.where(log.c.at >= _utc(since))
    if until is not None:
        query = query.where(log.c.at < _utc(until))
    if limit is not None:
        query = query.limit(limit)
    return [_entry(row) for row in (await conn.execute(query)).all()]


async def _stream(conn: AsyncConnection, batch: int) -> AsyncIterator[Entry]:
    log = AuditRecord.__table__
    after = 0
    while True:
        query = select(log).where(log.c.seq > after).order_by(log.c.seq).limit(batch)
        rows = (await conn.execute(query)).all()
        if not rows:
            return
        for row in rows:
            yield _entry(row)
        after = int(rows[-1].seq)


async def verify_chain(conn: AsyncConnection, *, batch: int = 5000) -> list[str]:
    """Check the whole chain and return the problems found (empty when intact).

    Detects edited records (hash mismatch), deleted records (gap in the sequence or a
    ``prev_hash`` that does not match the previous record), reordered records (the sequence
    number is hashed, so a moved record no longer matches) and a truncated tail (the head row
    names a later record than the last one present). Each problem names the ``seq``.
    """
    problems: list[str] = []
    prev_seq, prev_hash = 0, GENESIS_HASH
    async for entry in _stream(conn, batch):
        if entry.seq != prev_seq + 1:
            missing = (
                f"{prev_seq + 1}"
                if entry.seq == prev_seq + 2
                else (f"{prev_seq + 1}..{entry.seq - 1}")
            )
            problems.append(f"seq {entry.seq}: records missing before it (seq {missing} deleted)")
        elif entry.prev_hash != prev_hash:
            problems.append(
                f"seq {entry.seq}: prev_hash does not match the hash of seq {prev_seq} "
                "(record deleted, replaced or reordered)"
            )
        expected = record_hash(
            seq=entry.seq,
            at=entry.at,
            event=entry.event,
            actor=entry.actor,
            message_id=entry.message_id,
            agency=entry.agency,
            outcome=entry.outcome,
            detail=entry.detail,
            prev_hash=entry.prev_hash,
        )
        if expected != entry.hash:
            problems.append(f"seq {entry.seq}: contents do not match its hash (record edited)")
        prev_seq, prev_hash = entry.seq, entry.hash
    head = (
        await conn.execute(select(AuditHead.__table__).where(AuditHead.__table__.c.id == _HEAD_ID))
    ).first()
    if head is not None:
        if int(head.seq) > prev_seq:
            problems.append(
                f"seq {prev_seq + 1}..{head.seq}: records missing at the end of the chain "
                f"(head names seq {head.seq})"
            )
        elif int(head.seq) == prev_seq and head.hash != prev_hash:
            problems.append(f"seq {prev_seq}: last record does not match the chain head hash")
        elif int(head.seq) < prev_seq:
            problems.append(
                f"seq {int(head.seq) + 1}..{prev_seq}: records beyond the chain head "
                "(appended outside the audit module)"
            )
    elif prev_seq:
        problems.append("audit_head: chain head row missing")
    return problems
