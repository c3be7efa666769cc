"""Single-row store writers and listings that only tests use (production writes in bulk:
``gateway.store.bulk`` inside the intake's group commit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store import bulk
from gateway.store.deliveries import _transition
from gateway.store.models import DELIVERED_SEQ, Delivery, Message
from gateway.store.repository import _one_message
from gateway.store.rows import (
    DeliveryRow,
    MessageRow,
    NewDelivery,
    NewMessage,
    _deliveries,
    utcnow,
)


async def insert_message(
    conn: AsyncConnection, msg: NewMessage, deliveries: Sequence[NewDelivery]
) -> None:
    """Insert a message and its deliveries; ``DuplicateMessage`` if the same packet exists."""
    await bulk.insert_messages(conn, [(msg, deliveries)])


def new_message(n: int, at: datetime, *, sender: str = "000.00.00.G22") -> NewMessage:
    """The ``n``-th test document of calling system ``SYS`` (hash and blob key from ``n``),
    accepted and legally received at ``at``, signature verified."""
    return NewMessage(
        kind="document",
        sender=sender,
        document_id=f"doc-{n}",
        content_sha256=f"{n:064x}",
        blob_key=f"{n:064x}",
        size=10,
        caller_system="SYS",
        accepted_at=at,
        legal_receipt_at=at,
        signature_status="verified",
    )


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


async def list_deliveries(
    conn: AsyncConnection, *, state: str | None = None, limit: int | None = None
) -> list[DeliveryRow]:
    """Return deliveries (in ``state`` when given), oldest first."""
    where = [] if state is None else [Delivery.state == state]
    return await _deliveries(conn, *where, limit=limit)


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
