"""What the sender's view needs in two queries: deliveries and statuses of many messages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import fields

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.database import translate_errors
from gateway.store.models import Delivery, StatusHistory
from gateway.store.rows import _DELIVERY_COLS, DeliveryRow, StatusRow, _row

_STATUS_COLS = [StatusHistory.__table__.c[f.name] for f in fields(StatusRow)]


async def deliveries_by_message(
    conn: AsyncConnection, message_ids: Collection[str]
) -> dict[str, list[DeliveryRow]]:
    """Return the deliveries of each message (in creation order), keyed by message id."""
    found: dict[str, list[DeliveryRow]] = defaultdict(list)
    if not message_ids:
        return found
    stmt = (
        select(*_DELIVERY_COLS)
        .where(Delivery.message_id.in_(list(message_ids)))
        .order_by(Delivery.created_at, Delivery.id)
    )
    with translate_errors():
        rows = (await conn.execute(stmt)).mappings().all()
    for row in rows:
        found[row["message_id"]].append(_row(DeliveryRow, row))
    return found


async def latest_statuses(
    conn: AsyncConnection, message_ids: Collection[str]
) -> dict[str, dict[str, str]]:
    """Return, per message, the latest status code ("01" … "16") recorded for each recipient."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    if not message_ids:
        return found
    stmt = (
        select(*_STATUS_COLS)
        .where(StatusHistory.document_message_id.in_(list(message_ids)))
        .order_by(StatusHistory.id)
    )
    with translate_errors():
        rows = (await conn.execute(stmt)).mappings().all()
    for row in rows:  # in recording order: the last one written wins
        found[row["document_message_id"]][row["recipient_code"]] = f"{row['status_code']:02d}"
    return found
