"""Support for the delivery-shard tests: a slow push recipient and polling helpers."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store import repository as repo
from gateway.store.database import transaction
from tests.loopback import LoopbackRecipient

WAIT_S = 90.0


class SlowRecipient(LoopbackRecipient):
    """A push recipient that verifies the node's signature and answers after ``delay_s``;
    it records every delivery id it accepted, in order (``fail`` ids: 503 first, or 404)."""

    def __init__(self, cert: Any, delay_s: float = 0.02) -> None:
        super().__init__(cert)
        self.delay_s = delay_s
        self.received: list[str] = []
        self.fail_first: dict[str, int] = {}
        self.refuse: set[str] = set()

    async def handle(self, request: web.Request) -> web.Response:
        delivery_id, _ = await self.verified(request)
        await asyncio.sleep(self.delay_s)
        if delivery_id in self.refuse:
            return web.Response(status=404)
        if self.fail_first.get(delivery_id, 0) > 0:
            self.fail_first[delivery_id] -= 1
            return web.Response(status=503)
        self.received.append(delivery_id)
        return web.Response(status=200)


async def wait_for(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` (plain or async) until it holds; fail after ``WAIT_S``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not await _holds(predicate):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _holds(predicate) -> bool:  # type: ignore[no-untyped-def]
    value = predicate()
    return bool(await value) if asyncio.iscoroutine(value) else bool(value)


async def delivery_state(engine: AsyncEngine, delivery_id: str) -> tuple[str, int] | None:
    """The stored state and attempt count of one delivery."""
    async with transaction(engine) as conn:
        row = await repo.get_delivery(conn, delivery_id)
    return None if row is None else (row.state, row.attempts)
