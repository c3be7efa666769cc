"""What the provincial-hub doors need from the store: numeric aliases and traces by time.

Bkav eDoc hub clients name documents by a number (a Java ``long``); the gateway names
messages by a 32-character id. ``hub_aliases`` gives every message shown on those doors one
stable number, assigned on first use and never changed, so a client may store it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from gateway.errors import StoreError
from gateway.store.base import Base
from gateway.store.database import transaction, translate_errors
from gateway.store.models import Delivery, Message, UTCDateTime


class HubAlias(Base):
    """The numeric id a hub client uses for one message."""

    __tablename__ = "hub_aliases"

    # SQLite's rowid (INTEGER PRIMARY KEY, 64-bit); BIGSERIAL on PostgreSQL: clients hold a
    # Java long.
    number: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[str] = mapped_column(String(32), ForeignKey("messages.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


async def number_for(engine: AsyncEngine, message_id: str, now: datetime) -> int:
    """Return the message's numeric alias, assigning the next number on first use.

    Two processes assigning at once: the unique key keeps one row, the loser reads it.
    """
    async with transaction(engine) as conn:
        found = await _number(conn, message_id)
        if found is not None:
            return found
    try:
        async with engine.begin() as conn:
            result = await conn.execute(
                insert(HubAlias).values(message_id=message_id, created_at=now)
            )
            key = result.inserted_primary_key
            if key is None:
                raise StoreError(f"no number assigned to {message_id}")
            return int(key[0])
    except IntegrityError:
        async with transaction(engine) as conn:
            again = await _number(conn, message_id)
        if again is None:
            raise StoreError(f"cannot assign a number to {message_id}") from None
        return again
    except SQLAlchemyError as exc:
        raise StoreError(str(exc)) from exc


async def _number(conn: AsyncConnection, message_id: str) -> int | None:
    stmt = select(HubAlias.number).where(HubAlias.message_id == message_id)
    with translate_errors():
        return (await conn.execute(stmt)).scalar_one_or_none()


async def message_for(engine: AsyncEngine, number: int) -> str | None:
    """Return the message id behind a numeric alias, or ``None``."""
    stmt = select(HubAlias.message_id).where(HubAlias.number == number)
    async with transaction(engine) as conn:
        return (await conn.execute(stmt)).scalar_one_or_none()


async def statuses_since(
    engine: AsyncEngine, agency: str, since: datetime, *, limit: int = 500
) -> list[str]:
    """Return the ids of status messages delivered to ``agency`` and accepted at or after
    ``since``, newest first (read-only: nothing is marked as fetched)."""
    d, m = Delivery.__table__.c, Message.__table__.c
    stmt = (
        select(m.id)
        .join(Delivery.__table__, d.message_id == m.id)
        .where(
            m.kind == "status",
            d.resolved_code == agency,
            d.state.in_(("delivered", "acked")),
            m.accepted_at >= since,
        )
        .order_by(m.accepted_at.desc())
        .limit(limit)
    )
    async with transaction(engine) as conn:
        return list((await conn.execute(stmt)).scalars().all())


async def find_sent(
    engine: AsyncEngine, sender: str, code: str, *, limit: int = 50
) -> list[tuple[str, tuple[str, ...]]]:
    """Return (message id, recipient codes) of documents ``sender`` sent whose DocumentId
    ends with ``,<code>`` (the ``From,yyyy/MM/dd,No/Notation`` convention)."""
    d, m = Delivery.__table__.c, Message.__table__.c
    pattern = "%," + code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = (
        select(m.id)
        .where(m.kind == "document", m.sender == sender, m.document_id.like(pattern, escape="\\"))
        .order_by(m.accepted_at.desc())
        .limit(limit)
    )
    async with transaction(engine) as conn:
        ids = list((await conn.execute(stmt)).scalars().all())
        out = []
        for message_id in ids:
            rows = await conn.execute(
                select(d.recipient_code, d.resolved_code).where(d.message_id == message_id)
            )
            codes = tuple(c for row in rows for c in row)
            out.append((message_id, codes))
    return out
