"""The provincial hub's numeric document ids and its trace queries, as the core offers them.

The hub door speaks numbers where this gateway has message ids; the aliases and the queries
behind ``GetTraces`` / ``checkExistDocument`` live in the store (``gateway.store.hub_ids``),
and doors reach them only through this module.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store import hub_ids


async def number_for(engine: AsyncEngine, message_id: str, now: datetime) -> int:
    """Return the message's stable numeric alias, assigning the next number on first use."""
    return await hub_ids.number_for(engine, message_id, now)


async def message_for(engine: AsyncEngine, number: int) -> str | None:
    """Return the message id behind a numeric alias, or ``None``."""
    return await hub_ids.message_for(engine, number)


async def statuses_since(
    engine: AsyncEngine, agency: str, since: datetime, *, limit: int = 500
) -> list[str]:
    """Return the ids of status messages delivered to ``agency`` accepted at or after ``since``."""
    return await hub_ids.statuses_since(engine, agency, since, limit=limit)


async def find_sent(
    engine: AsyncEngine, sender: str, code: str, *, limit: int = 50
) -> list[tuple[str, tuple[str, ...]]]:
    """Return (message id, recipient codes) of the documents ``sender`` sent under ``code``."""
    return await hub_ids.find_sent(engine, sender, code, limit=limit)
