"""Queries of the message store. Every function runs in the caller's transaction.

Functions take an ``AsyncConnection`` (from ``engine.begin()`` or
:func:`gateway.store.database.transaction`) and use SQLAlchemy core statements, which
are much cheaper than ORM sessions on the hot path. Database errors come out as
``StoreError`` (``DuplicateMessage`` for the duplicate key).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.database import translate_errors
from gateway.store.models import DELIVERED_SEQ, Delivery, Message, StatusHistory

FINAL_STATES = ("delivered", "acked", "failed", "withdrawn")  # withdrawn: gateway.legal.takedown


def new_id() -> str:
    """Return a new identifier (uuid4 hex) for a message or a delivery."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


@dataclass
class NewMessage:
    """A message row to insert (mirrors ``messages``)."""

    kind: str
    sender: str
    document_id: str
    content_sha256: str
    blob_key: str
    size: int
    caller_system: str
    accepted_at: datetime
    legal_receipt_at: datetime
    signature_status: str
    signer: str | None = None
    algorithm: str | None = None
    business_doc_type: int | None = None
    related_message_id: str | None = None
    status_code: int | None = None
    receipt_json: str = "{}"
    id: str = field(default_factory=new_id)
    priority: int | None = None


@dataclass
class NewDelivery:
    """A delivery row to insert with its message (mirrors ``deliveries``)."""

    recipient_code: str
    resolved_code: str
    endpoint_kind: str = "mailbox"
    endpoint_url: str | None = None
    state: str = "pending"
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class MessageRow:
    """A stored message."""

    id: str
    kind: str
    sender: str
    document_id: str
    content_sha256: str
    blob_key: str
    size: int
    caller_system: str
    accepted_at: datetime
    legal_receipt_at: datetime
    signature_status: str
    signer: str | None
    algorithm: str | None
    business_doc_type: int | None
    related_message_id: str | None
    status_code: int | None
    receipt_json: str
    priority: int | None = None


@dataclass(frozen=True)
class DeliveryRow:
    """A stored delivery (one recipient of one message)."""

    id: str
    message_id: str
    recipient_code: str
    resolved_code: str
    endpoint_kind: str
    endpoint_url: str | None
    state: str
    attempts: int
    last_error: str | None
    delivered_seq: int | None
    created_at: datetime
    published_at: datetime | None
    delivered_at: datetime | None
    acked_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class InboxRow:
    """A delivery waiting in a mailbox, with what the recipient needs to fetch it."""

    cursor: str
    delivery_id: str
    message_id: str
    kind: str
    sender: str
    document_id: str
    recipient_code: str
    resolved_code: str
    content_sha256: str
    size: int
    accepted_at: datetime
    delivered_at: datetime
    status_code: int | None
    business_doc_type: int | None


@dataclass(frozen=True)
class StatusRow:
    """One status recorded for a (document, recipient) pair."""

    id: int
    document_message_id: str
    recipient_code: str
    status_code: int
    status_message_id: str | None
    at: datetime


R = TypeVar("R")


def _row(cls: type[R], mapping: Any) -> R:
    return cls(**{f.name: mapping[f.name] for f in fields(cls)})  # type: ignore[arg-type]


_MESSAGE_COLS = [Message.__table__.c[f.name] for f in fields(MessageRow)]
_DELIVERY_COLS = [Delivery.__table__.c[f.name] for f in fields(DeliveryRow)]


async def insert_message(
    conn: AsyncConnection, msg: NewMessage, deliveries: Sequence[NewDelivery]
) -> None:
    """Insert a message and its deliveries; ``DuplicateMessage`` if the same packet exists."""
    now = utcnow()
    values = {f.name: getattr(msg, f.name) for f in fields(NewMessage)}
    with translate_errors():
        await conn.execute(insert(Message), [values])
        if deliveries:
            rows = [
                {
                    "id": d.id,
                    "message_id": msg.id,
                    "recipient_code": d.recipient_code,
                    "resolved_code": d.resolved_code,
                    "endpoint_kind": d.endpoint_kind,
                    "endpoint_url": d.endpoint_url,
                    "state": d.state,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for d in deliveries
            ]
            await conn.execute(insert(Delivery), rows)


async def set_receipt(conn: AsyncConnection, message_id: str, receipt_json: str) -> None:
    """Replace the stored receipt JSON of a message."""
    with translate_errors():
        await conn.execute(
            update(Message).where(Message.id == message_id).values(receipt_json=receipt_json)
        )


async def _one_message(conn: AsyncConnection, *where: Any, order: Any = None) -> MessageRow | None:
    stmt = select(*_MESSAGE_COLS).where(*where)
    if order is not None:
        stmt = stmt.order_by(*order)
    with translate_errors():
        row = (await conn.execute(stmt.limit(1))).mappings().first()
    return _row(MessageRow, row) if row else None


async def find_duplicate(
    conn: AsyncConnection, *, sender: str, document_id: str, content_sha256: str, kind: str
) -> MessageRow | None:
    """Return the message with the same sender, DocumentId, content hash and kind, if any."""
    return await _one_message(
        conn,
        Message.sender == sender,
        Message.document_id == document_id,
        Message.content_sha256 == content_sha256,
        Message.kind == kind,
    )


async def get_message(conn: AsyncConnection, message_id: str) -> MessageRow | None:
    """Return the message with this id, or ``None``."""
    return await _one_message(conn, Message.id == message_id)


async def find_document(
    conn: AsyncConnection, *, document_id: str, sender: str | None = None, latest: bool = False
) -> MessageRow | None:
    """Return the document message with this DocumentId (and sender when given).

    The earliest one by default (the original document); ``latest=True`` gives the most
    recent one (after updates or replacements carrying the same DocumentId).
    """
    where = [Message.kind == "document", Message.document_id == document_id]
    if sender is not None:
        where.append(Message.sender == sender)
    order = (
        (Message.accepted_at.desc(), Message.id.desc())
        if latest
        else (
            Message.accepted_at,
            Message.id,
        )
    )
    return await _one_message(conn, *where, order=order)


async def sent_messages(
    conn: AsyncConnection, senders: Collection[str], *, after: str | None = None, limit: int = 100
) -> list[MessageRow]:
    """Return messages sent by ``senders``, newest first; ``after`` is a message id cursor."""
    stmt = select(*_MESSAGE_COLS).where(Message.sender.in_(list(senders)))
    if after:
        anchor = await get_message(conn, after)
        if anchor is not None:
            stmt = stmt.where(
                or_(
                    Message.accepted_at < anchor.accepted_at,
                    and_(Message.accepted_at == anchor.accepted_at, Message.id < anchor.id),
                )
            )
    stmt = stmt.order_by(Message.accepted_at.desc(), Message.id.desc()).limit(limit)
    with translate_errors():
        rows = (await conn.execute(stmt)).mappings().all()
    return [_row(MessageRow, r) for r in rows]


async def _deliveries(
    conn: AsyncConnection, *where: Any, limit: int | None = None
) -> list[DeliveryRow]:
    stmt = select(*_DELIVERY_COLS).where(*where).order_by(Delivery.created_at, Delivery.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    with translate_errors():
        rows = (await conn.execute(stmt)).mappings().all()
    return [_row(DeliveryRow, r) for r in rows]


async def deliveries_for(conn: AsyncConnection, message_id: str) -> list[DeliveryRow]:
    """Return every delivery of a message."""
    return await _deliveries(conn, Delivery.message_id == message_id)


async def list_deliveries(
    conn: AsyncConnection, *, state: str | None = None, limit: int | None = None
) -> list[DeliveryRow]:
    """Return deliveries (in ``state`` when given), oldest first."""
    where = [] if state is None else [Delivery.state == state]
    return await _deliveries(conn, *where, limit=limit)


async def get_delivery(conn: AsyncConnection, delivery_id: str) -> DeliveryRow | None:
    """Return the delivery with this id, or ``None``."""
    rows = await _deliveries(conn, Delivery.id == delivery_id)
    return rows[0] if rows else None


async def inbox(
    conn: AsyncConnection, agencies: Collection[str], *, after: str | None, limit: int
) -> list[InboxRow]:
    """Return mailbox deliveries to ``agencies`` that are delivered and not yet acked.

    Ordered by the cursor (the order deliveries became visible); ``after`` is the
    ``cursor`` of the last item the caller has seen.
    """
    d, m = Delivery.__table__.c, Message.__table__.c
    stmt = (
        select(
            d.delivered_seq.label("seq"),
            d.id.label("delivery_id"),
            d.message_id,
            m.kind,
            m.sender,
            m.document_id,
            d.recipient_code,
            d.resolved_code,
            m.content_sha256,
            m.size,
            m.accepted_at,
            d.delivered_at,
            m.status_code,
            m.business_doc_type,
        )
        .join(Message.__table__, m.id == d.message_id)
        .where(
            d.resolved_code.in_(list(agencies)),
            d.state == "delivered",
            d.endpoint_kind == "mailbox",
        )
    )
    if after and after.isdigit():
        stmt = stmt.where(d.delivered_seq > int(after))
    stmt = stmt.order_by(d.delivered_seq).limit(limit)
    with translate_errors():
        rows = (await conn.execute(stmt)).mappings().all()
    out = []
    for r in rows:
        values = dict(r)
        values["cursor"] = str(values.pop("seq"))
        out.append(_row(InboxRow, values))
    return out


async def mark_published(conn: AsyncConnection, ids: Collection[str]) -> int:
    """Mark pending deliveries as published (confirmed by RabbitMQ); returns rows changed."""
    if not ids:
        return 0
    now = utcnow()
    with translate_errors():
        result = await conn.execute(
            update(Delivery)
            .where(Delivery.id.in_(list(ids)), Delivery.state == "pending")
            .values(state="published", published_at=now, updated_at=now)
        )
    return result.rowcount or 0


async def unpublished(
    conn: AsyncConnection, *, older_than: datetime, limit: int = 500
) -> list[DeliveryRow]:
    """Return pending deliveries created before ``older_than`` (stored but never published)."""
    return await _deliveries(
        conn, Delivery.state == "pending", Delivery.created_at < older_than, limit=limit
    )


async def _transition(conn: AsyncConnection, delivery_id: str, **values: Any) -> bool:
    values.setdefault("updated_at", utcnow())
    with translate_errors():
        result = await conn.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.state.not_in(FINAL_STATES))
            .values(**values)
        )
    return bool(result.rowcount)


async def mark_delivered(conn: AsyncConnection, delivery_id: str) -> bool:
    """Mark a delivery delivered (visible in the inbox for mailboxes).

    Returns ``False`` (and changes nothing) when it was already delivered or acked.
    """
    if conn.dialect.name == "postgresql":
        seq: Any = DELIVERED_SEQ.next_value()
    else:  # SQLite has one writer at a time (BEGIN IMMEDIATE), so max + 1 is monotonic
        seq = select(func.coalesce(func.max(Delivery.delivered_seq), 0) + 1).scalar_subquery()
    now = utcnow()
    return await _transition(
        conn,
        delivery_id,
        state="delivered",
        delivered_at=now,
        delivered_seq=seq,
        attempts=Delivery.attempts + 1,
        last_error=None,
        updated_at=now,
    )


async def mark_retrying(conn: AsyncConnection, delivery_id: str, error: str) -> bool:
    """Record a failed attempt that will be retried after the next ladder step."""
    return await _transition(
        conn, delivery_id, state="retrying", attempts=Delivery.attempts + 1, last_error=error
    )


async def mark_parked(conn: AsyncConnection, delivery_id: str, error: str) -> bool:
    """Record that a delivery gave up (last ladder step or permanent failure)."""
    return await _transition(
        conn, delivery_id, state="parked", attempts=Delivery.attempts + 1, last_error=error
    )


async def mark_acked(
    conn: AsyncConnection, message_id: str, recipient_codes: Collection[str]
) -> list[DeliveryRow]:
    """Mark the message's delivered deliveries to ``recipient_codes`` as acked.

    ``recipient_codes`` matches the resolved code or the code as written in the packet.
    Returns the deliveries that changed (empty when already acked: idempotent).
    """
    codes = list(recipient_codes)
    where = (
        Delivery.message_id == message_id,
        or_(Delivery.resolved_code.in_(codes), Delivery.recipient_code.in_(codes)),
        Delivery.state == "delivered",
    )
    changed = await _deliveries(conn, *where)
    if not changed:
        return []
    now = utcnow()
    with translate_errors():
        await conn.execute(
            update(Delivery)
            .where(Delivery.id.in_([r.id for r in changed]), Delivery.state == "delivered")
            .values(state="acked", acked_at=now, updated_at=now)
        )
    return await _deliveries(conn, Delivery.id.in_([r.id for r in changed]))


async def parked(conn: AsyncConnection, limit: int | None = None) -> list[DeliveryRow]:
    """Return parked deliveries, oldest first."""
    return await _deliveries(conn, Delivery.state == "parked", limit=limit)


async def reset_for_replay(conn: AsyncConnection, ids: Collection[str]) -> list[DeliveryRow]:
    """Put parked deliveries back to ``pending`` with a fresh attempt count (operator replay).

    Returns the deliveries that were reset; the caller publishes them and marks them
    published.
    """
    if not ids:
        return []
    with translate_errors():
        await conn.execute(
            update(Delivery)
            .where(Delivery.id.in_(list(ids)), Delivery.state == "parked")
            .values(state="pending", attempts=0, updated_at=utcnow())
        )
    return await _deliveries(conn, Delivery.id.in_(list(ids)), Delivery.state == "pending")


async def delivery_counts(conn: AsyncConnection) -> dict[str, int]:
    """Return the number of deliveries in each state (for metrics and reports)."""
    with translate_errors():
        rows = (
            await conn.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
        ).all()
    return {state: count for state, count in rows}


async def add_status(
    conn: AsyncConnection,
    *,
    document_message_id: str,
    recipient_code: str,
    status_code: int,
    status_message_id: str | None,
    at: datetime,
) -> None:
    """Record a status for a (document, recipient) pair."""
    with translate_errors():
        await conn.execute(
            insert(StatusHistory).values(
                document_message_id=document_message_id,
                recipient_code=recipient_code,
                status_code=status_code,
                status_message_id=status_message_id,
                at=at,
            )
        )


async def status_history(conn: AsyncConnection, document_message_id: str) -> list[StatusRow]:
    """Return every status recorded for a document, in the order they were recorded."""
    stmt = (
        select(*[StatusHistory.__table__.c[f.name] for f in fields(StatusRow)])
        .where(StatusHistory.document_message_id == document_message_id)
        .order_by(StatusHistory.id)
    )
    with translate_errors():
        rows = (await conn.execute(stmt)).mappings().all()
    return [_row(StatusRow, r) for r in rows]


async def last_status(
    conn: AsyncConnection, document_message_id: str, recipient_code: str
) -> int | None:
    """Return the latest status code recorded for (document, recipient), or ``None``."""
    stmt = (
        select(StatusHistory.status_code)
        .where(
            StatusHistory.document_message_id == document_message_id,
            StatusHistory.recipient_code == recipient_code,
        )
        .order_by(StatusHistory.id.desc())
        .limit(1)
    )
    with translate_errors():
        return (await conn.execute(stmt)).scalar_one_or_none()


async def mark_failed(
    conn: AsyncConnection, message_id: str, recipient_codes: Collection[str], reason: str
) -> list[DeliveryRow]:
    """Mark the message's delivered deliveries to ``recipient_codes`` as ``failed``: the
    recipient refused the transfer (VXP ``updateStatus fail``). Only a delivered, not yet
    acknowledged delivery changes; returns those that changed (empty on a repeat)."""
    codes = list(recipient_codes)
    where = (
        Delivery.message_id == message_id,
        or_(Delivery.resolved_code.in_(codes), Delivery.recipient_code.in_(codes)),
        Delivery.state == "delivered",
    )
    changed = await _deliveries(conn, *where)
    if not changed:
        return []
    with translate_errors():
        await conn.execute(
            update(Delivery)
            .where(Delivery.id.in_([r.id for r in changed]), Delivery.state == "delivered")
            .values(state="failed", last_error=reason[:1000], updated_at=utcnow())
        )
    return await _deliveries(conn, Delivery.id.in_([r.id for r in changed]))
