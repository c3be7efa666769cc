"""Delivery workers: take a task from RabbitMQ, call the recipient's transport, record it.

Order matters for "no loss, no double delivery": the transport is called, then the
delivery row is committed as delivered, and only then does the handler return so that
the broker acks the AMQP message. A redelivered task whose row is already delivered or
acked is acked again without calling the transport. A crash between the transport call
and the commit makes the same delivery id arrive twice at the recipient (at-least-once;
recipients deduplicate by delivery id, which never names two different deliveries).

Tasks handled concurrently share their store transactions (``gateway.store.group_commit``):
the loads of their delivery rows (on the read engine when there is one), and the marks
``delivered`` before their acks.

A delivery-only process (used by the fault tests) is
``edoc-gateway deliveries worker --store URL --amqp URL --blobs DIR``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.delivery.broker import Broker, DeliveryTask
from gateway.delivery.transports import (
    MailboxTransport,
    PermanentDeliveryError,
    RetryableDeliveryError,
    Transport,
)
from gateway.ops import metrics
from gateway.ports import BlobStore
from gateway.store import bulk
from gateway.store import repository as repo
from gateway.store.database import transaction
from gateway.store.group_commit import GroupCommit

log = structlog.get_logger(__name__)

OnParked = Callable[[repo.DeliveryRow], Awaitable[None]]
_SKIP_STATES = ("delivered", "acked", "parked", "failed", "withdrawn")
Loaded = tuple[repo.DeliveryRow, repo.MessageRow]


class DeliveryService:
    """Consumes delivery tasks and hands each packet to the transport of its endpoint."""

    def __init__(
        self,
        engine: AsyncEngine,
        blobs: BlobStore,
        broker: Broker,
        transports: Mapping[str, Transport],
        *,
        on_parked: OnParked | None = None,
        reader: AsyncEngine | None = None,
    ) -> None:
        """``reader``: the engine that loads delivery rows (``gateway.store.readers``), so a
        task costs the writer one transaction, the mark; default the store's engine."""
        self.engine = engine
        self.blobs = blobs
        self.broker = broker
        self.transports = dict(transports)
        self.on_parked = on_parked
        # Concurrent tasks share their store transactions: one to load, one to finish.
        self._loader: GroupCommit[str, Loaded | None] = GroupCommit(reader or engine, _load_batch)
        self._finisher: GroupCommit[str, bool] = GroupCommit(engine, _finish_batch)

    async def start(self) -> None:
        """Start consuming delivery tasks."""
        await self.broker.consume(self.handle)

    async def stop(self) -> None:
        """Stop consuming (in-flight tasks not yet acked are redelivered to another worker)."""
        await self.broker.stop_consuming()
        await self._loader.close()
        await self._finisher.close()

    async def handle(self, task: DeliveryTask) -> None:
        """Attempt one delivery; returns after the outcome is committed to the database.

        Raises ``RetryableDeliveryError`` / ``PermanentDeliveryError`` (after recording the
        attempt) so the broker moves the task along the retry ladder or parks it.
        """
        found = await self._loader.submit(task.delivery_id)
        if found is None:
            log.warning("delivery.unknown", delivery_id=task.delivery_id)
            return
        delivery, message = found
        if delivery.state in _SKIP_STATES:
            log.info("delivery.already_done", delivery_id=delivery.id, state=delivery.state)
            return
        transport = self.transports.get(delivery.endpoint_kind)
        kind = delivery.endpoint_kind
        metrics.DELIVERY_ATTEMPTS.labels(transport=kind).inc()
        try:
            if transport is None:
                raise PermanentDeliveryError(f"no transport for endpoint kind {kind!r}")
            # A mailbox sends nothing: the recipient fetches the packet from the store.
            mailbox = isinstance(transport, MailboxTransport)
            packet = b"" if mailbox else await self.blobs.get(message.blob_key)
            await transport.deliver(delivery, packet, message)
        except RetryableDeliveryError as exc:
            if task.attempt >= len(self.broker.ladder):
                await self._park(delivery, exc.reason)
            else:
                metrics.DELIVERIES.labels(transport=kind, result="retry").inc()
                async with transaction(self.engine) as conn:
                    await repo.mark_retrying(conn, delivery.id, exc.reason)
            raise
        except PermanentDeliveryError as exc:
            await self._park(delivery, exc.reason)
            raise
        changed = await self._finisher.submit(delivery.id)
        if changed:
            metrics.DELIVERIES.labels(transport=kind, result="delivered").inc()
            latency = (datetime.now(UTC) - message.accepted_at).total_seconds()
            metrics.DELIVERY_LATENCY_SECONDS.observe(max(0.0, latency))

    async def _park(self, delivery: repo.DeliveryRow, reason: str) -> None:
        async with transaction(self.engine) as conn:
            changed = await repo.mark_parked(conn, delivery.id, reason)
            row = await repo.get_delivery(conn, delivery.id)
        metrics.DELIVERIES.labels(transport=delivery.endpoint_kind, result="parked").inc()
        log.warning("delivery.parked", delivery_id=delivery.id, reason=reason)
        if changed and row is not None and self.on_parked is not None:
            try:
                await self.on_parked(row)
            except Exception as exc:  # the delivery stays parked; the operator sees it
                log.error("delivery.on_parked_failed", delivery_id=delivery.id, error=repr(exc))


async def _load_batch(conn: AsyncConnection, ids: Sequence[str]) -> list[Loaded | None]:
    """Load the deliveries of a batch of tasks with their messages (two queries)."""
    found = await bulk.load_deliveries(conn, set(ids))
    return [found.get(i) for i in ids]


async def _finish_batch(conn: AsyncConnection, ids: Sequence[str]) -> list[bool]:
    """Mark a batch of deliveries delivered; ``True`` for each one this call changed
    (only the first of two tasks for the same delivery counts)."""
    changed = await bulk.mark_delivered_many(conn, list(dict.fromkeys(ids)))
    outcomes = []
    for delivery_id in ids:
        outcomes.append(delivery_id in changed)
        changed.discard(delivery_id)
    return outcomes


async def close_transports(transports: Mapping[str, Transport]) -> None:
    """Close every transport once (a transport may be registered under several kinds)."""
    seen: set[int] = set()
    for transport in transports.values():
        if id(transport) not in seen:
            seen.add(id(transport))
            await transport.close()
