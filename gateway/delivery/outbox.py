"""Outbox sweep: publish deliveries that were stored but never confirmed by RabbitMQ.

Intake commits the message and its deliveries first, then publishes. A crash, or a broker
outage, between the two leaves rows in state ``pending``; the sweep republishes them (once
at start-up, then periodically). A delivery published twice is harmless: consumers are
idempotent on the delivery id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.delivery.broker import Broker, DeliveryTask
from gateway.errors import GatewayError
from gateway.store import bulk
from gateway.store import repository as repo
from gateway.store.database import transaction

log = structlog.get_logger(__name__)

BATCH = 500


def task_for(
    delivery_id: str, message_id: str, routes: Mapping[str, tuple[int, str]]
) -> DeliveryTask:
    """The first-attempt task of a delivery, on the lane and shard of its message's
    ``routes`` entry (``gateway.store.bulk.routes``): the same as intake published."""
    priority, sender = routes.get(message_id, (0, ""))
    return DeliveryTask(delivery_id, message_id, 0, priority, sender)


async def sweep(engine: AsyncEngine, broker: Broker, *, older_than_s: float) -> int:
    """Republish every pending delivery created more than ``older_than_s`` ago.

    Returns the number of deliveries published. Raises ``BrokerError`` / ``StoreError``
    when a dependency is down (the rows stay pending for the next sweep).
    """
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    total = 0
    seen: set[str] = set()
    while True:
        async with transaction(engine) as conn:
            rows = await repo.unpublished(conn, older_than=cutoff, limit=BATCH)
            rows = [r for r in rows if r.id not in seen]
            routes = await bulk.routes(conn, {r.message_id for r in rows})
        if not rows:
            return total
        await broker.publish([task_for(r.id, r.message_id, routes) for r in rows])
        async with transaction(engine) as conn:
            await repo.mark_published(conn, [r.id for r in rows])
        seen.update(r.id for r in rows)
        total += len(rows)
        log.info("outbox.republished", count=len(rows))


async def run_periodically(
    engine: AsyncEngine, broker: Broker, *, interval_s: float, older_than_s: float
) -> None:
    """Sweep now and then every ``interval_s`` seconds until cancelled; failures are logged."""
    while True:
        try:
            await sweep(engine, broker, older_than_s=older_than_s)
        except GatewayError as exc:
            log.warning("outbox.sweep_failed", error=exc.text_en)
        await asyncio.sleep(interval_s)
