"""Operator replay of parked deliveries inside a running gateway (console, admin API).

The same steps as ``edoc-gateway deliveries replay`` (reset the rows, publish the tasks,
mark them published), but on the process's own engine and broker connection, and with one
audit record naming the operator and the deliveries replayed. A publish that fails leaves
the rows ``pending``: the outbox sweep publishes them later, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import chain as audit
from gateway.delivery.outbox import task_for
from gateway.store import bulk
from gateway.store import repository as repo
from gateway.store.database import transaction


async def replay_parked(
    engine: AsyncEngine, broker: Any, ids: Sequence[str] | None, *, actor: str
) -> list[str]:
    """Send parked deliveries (``ids``, or every parked one when ``None``) again from the
    first step of the retry ladder; return the ids actually replayed (parked ones only)."""
    async with transaction(engine) as conn:
        parked = [r.id for r in await repo.parked(conn)]
        # Only parked ones: ``reset_for_replay`` also hands back a named delivery that was
        # merely pending, which would then be published twice.
        known = set(parked)
        wanted = parked if ids is None else [i for i in dict.fromkeys(ids) if i in known]
        rows = await repo.reset_for_replay(conn, wanted)
        routes = await bulk.routes(conn, {r.message_id for r in rows})
        await audit.append(
            conn,
            event="deliveries.replayed",
            actor=actor,
            message_id=rows[0].message_id if len(rows) == 1 else None,
            agency=rows[0].resolved_code if len(rows) == 1 else None,
            detail={
                "requested": "all" if ids is None else list(ids)[:100],
                "replayed": [r.id for r in rows][:100],
                "count": len(rows),
            },
        )
    if rows:
        await broker.publish([task_for(r.id, r.message_id, routes) for r in rows])
        async with transaction(engine) as conn:
            await repo.mark_published(conn, [r.id for r in rows])
    return [r.id for r in rows]
