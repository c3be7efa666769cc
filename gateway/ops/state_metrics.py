"""The ``edoc_gateway_deliveries_in_state`` gauge, read from the store every few seconds.

The store is the truth about deliveries (RabbitMQ's passive declarations answer 0 for quorum
queues), so the parked-deliveries alert is computed from this gauge: every process of one
store shows the same figures, and the alert takes their maximum.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import appkeys
from gateway.errors import GatewayError
from gateway.ops import metrics
from gateway.store import repository as repo
from gateway.store.models import DELIVERY_STATES

log = structlog.get_logger(__name__)

INTERVAL_S = 15.0


async def refresh(engine: AsyncEngine) -> dict[str, int]:
    """Set the gauge for every delivery state (0 for states no delivery is in)."""
    async with engine.connect() as conn:
        counts = await repo.delivery_counts(conn)
    for state in DELIVERY_STATES:
        metrics.DELIVERIES_IN_STATE.labels(state=state).set(counts.get(state, 0))
    return counts


async def run_periodically(engine: AsyncEngine, *, interval_s: float = INTERVAL_S) -> None:
    """Refresh now and then every ``interval_s`` seconds until cancelled."""
    while True:
        try:
            await refresh(engine)
        except GatewayError as exc:
            log.warning("metrics.delivery_states_failed", error=exc.text_en)
        await asyncio.sleep(interval_s)


def context(interval_s: float = INTERVAL_S) -> Callable[[web.Application], AsyncIterator[None]]:
    """Cleanup context running the refresh beside the application (after the store opens)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(run_periodically(app[appkeys.ENGINE], interval_s=interval_s))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx
