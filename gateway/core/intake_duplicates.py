"""Duplicates recognised by their hash before any check runs.

A calling system that sends the same bytes again (an SDK retry after a timeout, a user
pressing send twice) used to pay the full check (parse, schema, signature) before the store
found the duplicate. :class:`RecentDigests` remembers, per calling system, the SHA-256 of
the packets this process accepted recently and the id of the message each became; a hit
skips the checks and the original receipt is read in the shared store transaction
(:func:`duplicate_receipts`, a lane of ``gateway.store.group_commit``). Identical bytes
parse to the identical duplicate key (sender, DocumentId, hash, kind), and the same system
already passed the checks and the authorization for them. A miss (older packets, another
process) still ends in the store's duplicate lookup after the checks.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.receipts import Receipt
from gateway.store.database import translate_errors
from gateway.store.models import Delivery, Message

DEFAULT_SIZE = 20_000


class RecentDigests:
    """(calling system, SHA-256 of the bytes) → original message id, least recent dropped."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._ids: OrderedDict[tuple[str, str], str] = OrderedDict()

    def original_of(self, system_id: str, sha: str) -> str | None:
        """Return the id of the message these bytes from ``system_id`` became, if known."""
        message_id = self._ids.get((system_id, sha))
        if message_id is not None:
            self._ids.move_to_end((system_id, sha))
        return message_id

    def remember(self, system_id: str, sha: str, message_id: str) -> None:
        """Record that these bytes from ``system_id`` are stored as ``message_id``."""
        self._ids[(system_id, sha)] = message_id
        self._ids.move_to_end((system_id, sha))
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


async def duplicate_receipts(conn: AsyncConnection, ids: Sequence[str]) -> list[Receipt | None]:
    """Return, for each message id, its original receipt with the current delivery states
    and ``duplicate`` set (``None`` for an id not in the store); two queries in all."""
    wanted = list(dict.fromkeys(ids))
    m, d = Message.__table__.c, Delivery.__table__.c
    with translate_errors():
        messages = (await conn.execute(select(m.id, m.receipt_json).where(m.id.in_(wanted)))).all()
        deliveries = (
            await conn.execute(
                select(d.message_id, d.recipient_code, d.state).where(d.message_id.in_(wanted))
            )
        ).all()
    states: dict[str, dict[str, str]] = {}
    for row in deliveries:
        states.setdefault(row.message_id, {})[row.recipient_code] = row.state
    receipts = {
        row.id: Receipt.from_dict(json.loads(row.receipt_json)).with_states(
            states.get(row.id, {}), duplicate=True
        )
        for row in messages
    }
    return [receipts.get(i) for i in ids]
