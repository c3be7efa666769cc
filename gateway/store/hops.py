"""Queries of the hop table (``message_hops``): the nodes a relayed message passed through.

A path is written once per message, oldest hop first: the first report wins. A resend of
the same relayed packet (a duplicate, answered with the original receipt) or a second
report racing the first changes nothing, so a relaying node that resends after a lost
answer never doubles or reorders a path. Every function runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.database import translate_errors
from gateway.store.models import MessageHop

_H = MessageHop.__table__.c


@dataclass(frozen=True)
class HopRow:
    """One stored hop (mirrors ``message_hops``)."""

    seq: int
    node: str
    received_at: str | None
    forwarded_at: str | None
    reported_by: str
    via: str
    recorded_at: datetime


@dataclass(frozen=True)
class NewHop:
    """One hop as a relaying node reported it."""

    node: str
    received_at: str | None = None
    forwarded_at: str | None = None


async def record_path(
    conn: AsyncConnection,
    message_id: str,
    hops: Sequence[NewHop],
    *,
    reported_by: str,
    via: str,
    at: datetime,
) -> int:
    """Store the path of ``message_id`` unless one is stored; return the rows written."""
    if not hops:
        return 0
    with translate_errors():
        known = await conn.execute(select(_H.seq).where(_H.message_id == message_id).limit(1))
        if known.first() is not None:
            return 0
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(MessageHop).on_conflict_do_nothing(
            index_elements=["message_id", "seq"]
        )
        rows = [
            {
                "message_id": message_id,
                "seq": seq,
                "node": hop.node,
                "received_at": hop.received_at,
                "forwarded_at": hop.forwarded_at,
                "reported_by": reported_by,
                "via": via,
                "recorded_at": at,
            }
            for seq, hop in enumerate(hops)
        ]
        result = await conn.execute(stmt.values(rows))  # one statement: a true rowcount
    return max(int(result.rowcount or 0), 0)


async def path_of(conn: AsyncConnection, message_id: str) -> list[HopRow]:
    """Return the stored path of ``message_id``, oldest hop first (empty when none)."""
    with translate_errors():
        result = await conn.execute(
            select(
                _H.seq,
                _H.node,
                _H.received_at,
                _H.forwarded_at,
                _H.reported_by,
                _H.via,
                _H.recorded_at,
            )
            .where(_H.message_id == message_id)
            .order_by(_H.seq)
        )
        return [HopRow(*row) for row in result.all()]
