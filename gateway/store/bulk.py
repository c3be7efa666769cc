"""Multi-row statements for the hot paths (intake and delivery batches).

Each function does for many rows, in a fixed small number of statements, what the
single-row functions of :mod:`gateway.store.repository` do for one: a batch of accepted
packets or of finished deliveries costs the same few round trips whatever its size.
Every function runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import case, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.database import translate_errors
from gateway.store.models import DELIVERED_SEQ, Delivery, Message, StatusHistory
from gateway.store.rows import (
    _DELIVERY_COLS,
    _MESSAGE_COLS,
    FINAL_STATES,
    DeliveryRow,
    MessageRow,
    NewDelivery,
    NewMessage,
    _row,
    utcnow,
)

# (sender, document_id, content_sha256, kind): the duplicate key of a packet.
DuplicateKey = tuple[str, str, str, str]


async def find_duplicates(
    conn: AsyncConnection, keys: Collection[DuplicateKey]
) -> dict[DuplicateKey, MessageRow]:
    """Return the stored messages having any of these duplicate keys, by key."""
    if not keys:
        return {}
    m = Message.__table__.c
    stmt = select(*_MESSAGE_COLS).where(
        tuple_(m.sender, m.document_id, m.content_sha256, m.kind).in_(list(keys))
    )
    with translate_errors():
        rows = (await conn.execute(stmt)).mappings().all()
    found = [_row(MessageRow, r) for r in rows]
    return {(r.sender, r.document_id, r.content_sha256, r.kind): r for r in found}


async def insert_messages(
    conn: AsyncConnection,
    items: Sequence[tuple[NewMessage, Sequence[NewDelivery]]],
    *,
    delivered: Collection[str] = (),
) -> None:
    """Insert messages with their deliveries (a few statements for the whole batch).

    Deliveries whose id is in ``delivered`` (mailboxes) are inserted as
    :func:`insert_delivered` does. A unique-key violation comes out as
    ``DuplicateMessage``.
    """
    if not items:
        return
    messages = [{f.name: getattr(msg, f.name) for f in fields(NewMessage)} for msg, _ in items]
    pending = [(m, [d for d in ds if d.id not in delivered]) for m, ds in items]
    rows = _delivery_rows(pending, delivered=False)
    with translate_errors():
        await conn.execute(insert(Message), messages)
        if rows:
            await conn.execute(insert(Delivery), rows)
    if delivered:
        done = [(m, [d for d in ds if d.id in delivered]) for m, ds in items]
        await insert_delivered(conn, done)


async def insert_delivered(
    conn: AsyncConnection, items: Sequence[tuple[NewMessage, Sequence[NewDelivery]]]
) -> None:
    """Insert deliveries of stored messages already delivered (a mailbox), as
    :func:`mark_delivered_many` would leave them, each with the next inbox cursor
    (``delivered_seq``) in the order given: no later ``UPDATE`` is needed.

    On PostgreSQL the cursor is a sequence: call this while holding a lock that orders the
    writers until the commit (the audit chain head's, as intake does), so that cursors
    follow the commit order across processes."""
    rows = _delivery_rows(items, delivered=True)
    if rows:
        with translate_errors():
            await conn.execute(insert(Delivery).values(delivered_seq=_next_seq(conn)), rows)


def _delivery_rows(
    items: Sequence[tuple[NewMessage, Sequence[NewDelivery]]], *, delivered: bool
) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "id": d.id,
            "message_id": msg.id,
            "recipient_code": d.recipient_code,
            "resolved_code": d.resolved_code,
            "endpoint_kind": d.endpoint_kind,
            "endpoint_url": d.endpoint_url,
            "state": "delivered" if delivered else d.state,
            "attempts": 1 if delivered else 0,
            "created_at": now,
            "updated_at": now,
            **({"delivered_at": now} if delivered else {}),
        }
        for msg, batch in items
        for d in batch
    ]


def _next_seq(conn: AsyncConnection) -> Any:
    """The next inbox cursor, evaluated for each row inserted (see ``mark_delivered_many``)."""
    if conn.dialect.name == "postgresql":
        return DELIVERED_SEQ.next_value()
    # Each row of an ``executemany`` runs the statement again, so it sees the rows before
    # it; one writer at a time (``BEGIN IMMEDIATE``), so nobody else moves the max meanwhile.
    return (
        select(func.coalesce(func.max(Delivery.delivered_seq), 0) + 1)
        .select_from(Delivery)
        .scalar_subquery()
    )


async def add_statuses(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Record statuses; each row has ``document_message_id``, ``recipient_code``,
    ``status_code``, ``status_message_id`` and ``at``. Recorded in the given order."""
    if not rows:
        return
    with translate_errors():
        await conn.execute(insert(StatusHistory), list(rows))


async def load_deliveries(
    conn: AsyncConnection, ids: Collection[str]
) -> dict[str, tuple[DeliveryRow, MessageRow]]:
    """Return each known delivery with its message, by delivery id (one query)."""
    if not ids:
        return {}
    d_cols = [c.label(f"d_{c.name}") for c in _DELIVERY_COLS]
    m_cols = [c.label(f"m_{c.name}") for c in _MESSAGE_COLS]
    stmt = (
        select(*d_cols, *m_cols)
        .join_from(Delivery, Message, Delivery.message_id == Message.id)
        .where(Delivery.id.in_(list(ids)))
    )
    with translate_errors():
        rows = (await conn.execute(stmt)).mappings().all()
    out = {}
    for r in rows:
        delivery = DeliveryRow(**{f.name: r[f"d_{f.name}"] for f in fields(DeliveryRow)})
        message = MessageRow(**{f.name: r[f"m_{f.name}"] for f in fields(MessageRow)})
        out[delivery.id] = (delivery, message)
    return out


async def mark_delivered_many(conn: AsyncConnection, ids: Sequence[str]) -> set[str]:
    """Mark deliveries delivered (visible in the inbox for mailboxes), in the given order.

    Returns the ids that changed; ids already delivered or acked are left alone.
    Each changed row gets its own increasing ``delivered_seq`` (the inbox cursor): a
    PostgreSQL sequence value, or on SQLite ``max + position`` read under the write lock
    that ``BEGIN IMMEDIATE`` took for this transaction.
    """
    if not ids:
        return set()
    now = utcnow()
    where = (Delivery.id.in_(list(ids)), Delivery.state.not_in(FINAL_STATES))
    if conn.dialect.name == "postgresql":
        seq: Any = DELIVERED_SEQ.next_value()
    else:
        # One statement: current max plus the position of the id in ``ids``. SQLite runs
        # one writer at a time (``BEGIN IMMEDIATE``), so nobody else moves the max meanwhile.
        top = select(func.coalesce(func.max(Delivery.delivered_seq), 0)).scalar_subquery()
        seq = top + case(
            {delivery_id: n for n, delivery_id in enumerate(ids, start=1)}, value=Delivery.id
        )
    with translate_errors():
        result = await conn.execute(
            update(Delivery)
            .where(*where)
            .values(
                state="delivered",
                delivered_at=now,
                delivered_seq=seq,
                attempts=Delivery.attempts + 1,
                last_error=None,
                updated_at=now,
            )
            .returning(Delivery.id)
        )
        return {row[0] for row in result.all()}


async def routes(conn: AsyncConnection, message_ids: Collection[str]) -> dict[str, tuple[int, str]]:
    """Return ``(priority, caller_system)`` of these messages, by id: what routes their
    delivery tasks to a lane (``OtherInfo/Priority``, 0 when none) and a shard of it."""
    if not message_ids:
        return {}
    m = Message.__table__.c
    stmt = select(m.id, m.priority, m.caller_system).where(m.id.in_(list(set(message_ids))))
    with translate_errors():
        rows = (await conn.execute(stmt)).all()
    return {row.id: (int(row.priority or 0), str(row.caller_system)) for row in rows}
