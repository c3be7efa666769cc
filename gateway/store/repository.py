"""Queries of the message store. Every function runs in the caller's transaction.

Functions take an ``AsyncConnection`` (from ``engine.begin()`` or
:func:`gateway.store.database.transaction`) and use SQLAlchemy core statements, which
are much cheaper than ORM sessions on the hot path. Database errors come out as
``StoreError`` (``DuplicateMessage`` for the duplicate key).

Here: messages, the reads of deliveries and the inbox, statuses. The row types live in
:mod:`gateway.store.rows` and the delivery state changes in :mod:`gateway.store.deliveries`;
both are re-exported, so ``repository.X`` keeps working for every caller.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.database import translate_errors
from gateway.store.deliveries import (
    delivery_counts,
    mark_acked,
    mark_failed,
    mark_parked,
    mark_published,
    mark_retrying,
    parked,
    reset_for_replay,
    unpublished,
)
from gateway.store.models import Delivery, Message, StatusHistory
from gateway.store.rows import (
    _DELIVERY_COLS,
    _MESSAGE_COLS,
    FINAL_STATES,
    DeliveryRow,
    InboxRow,
    MessageRow,
    NewDelivery,
    NewMessage,
    StatusRow,
    _deliveries,
    _row,
    new_id,
    utcnow,
)

__all__ = [
    "FINAL_STATES",
    "_DELIVERY_COLS",
    "_MESSAGE_COLS",
    "DeliveryRow",
    "InboxRow",
    "MessageRow",
    "NewDelivery",
    "NewMessage",
    "StatusRow",
    "_deliveries",
    "_row",
    "add_status",
    "deliveries_for",
    "delivery_counts",
    "find_document",
    "get_delivery",
    "get_message",
    "inbox",
    "last_status",
    "mark_acked",
    "mark_failed",
    "mark_parked",
    "mark_published",
    "mark_retrying",
    "new_id",
    "parked",
    "reset_for_replay",
    "sent_messages",
    "status_history",
    "unpublished",
    "utcnow",
]


async def _one_message(conn: AsyncConnection, *where: Any, order: Any = None) -> MessageRow | None:
    stmt = select(*_MESSAGE_COLS).where(*where)
    if order is not None:
        stmt = stmt.order_by(*order)
    with translate_errors():
        row = (await conn.execute(stmt.limit(1))).mappings().first()
    return _row(MessageRow, row) if row else None


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


async def deliveries_for(conn: AsyncConnection, message_id: str) -> list[DeliveryRow]:
    """Return every delivery of a message."""
    return await _deliveries(conn, Delivery.message_id == message_id)


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
