"""Delivery state changes: published, delivered, retrying, parked, acked, failed, replayed.

Every function runs in the caller's transaction; database errors come out as
``StoreError``. Re-exported by :mod:`gateway.store.repository`, where callers find them.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.database import translate_errors
from gateway.store.models import Delivery
from gateway.store.rows import (
    FINAL_STATES,
    DeliveryRow,
    _deliveries,
    utcnow,
)


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
    now = utcnow()
    return await _settle_delivered(
        conn, message_id, recipient_codes, state="acked", acked_at=now, updated_at=now
    )


async def _settle_delivered(
    conn: AsyncConnection, message_id: str, recipient_codes: Collection[str], **values: Any
) -> list[DeliveryRow]:
    """Set ``values`` on the message's still-delivered deliveries to ``recipient_codes``
    (the resolved code or the code as written); return those that changed."""
    codes = list(recipient_codes)
    changed = await _deliveries(
        conn,
        Delivery.message_id == message_id,
        or_(Delivery.resolved_code.in_(codes), Delivery.recipient_code.in_(codes)),
        Delivery.state == "delivered",
    )
    if not changed:
        return []
    ids = [r.id for r in changed]
    with translate_errors():
        await conn.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.state == "delivered")
            .values(**values)
        )
    return await _deliveries(conn, Delivery.id.in_(ids))


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


async def mark_failed(
    conn: AsyncConnection, message_id: str, recipient_codes: Collection[str], reason: str
) -> list[DeliveryRow]:
    """Mark the message's delivered deliveries to ``recipient_codes`` as ``failed``: the
    recipient refused the transfer (VXP ``updateStatus fail``). Only a delivered, not yet
    acknowledged delivery changes; returns those that changed (empty on a repeat)."""
    return await _settle_delivered(
        conn,
        message_id,
        recipient_codes,
        state="failed",
        last_error=reason[:1000],
        updated_at=utcnow(),
    )
