"""A bounded set of slots handed out most urgent first (delivery consumers serve urgent first).

RabbitMQ delivers the two lanes on their own channels, so an urgent task never waits in
the broker behind a backlog of normal ones; this gate makes it not wait behind them in
the process either: when every slot is taken, the next free slot goes to the waiter of
the highest rank, first come first served within a rank.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PriorityGate:
    """At most ``slots`` holders at once; waiters are admitted by rank (higher first)."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self.slots = slots
        self._busy = 0
        self._order = itertools.count()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []

    @property
    def busy(self) -> int:
        """Slots held now."""
        return self._busy

    @property
    def waiting(self) -> int:
        """Waiters not admitted yet."""
        return sum(1 for *_, f in self._waiters if not f.done())

    async def acquire(self, rank: int = 0) -> None:
        """Wait for a slot; a waiter of a higher ``rank`` is admitted before lower ones."""
        if self._busy < self.slots and not self.waiting:
            self._busy += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-rank, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # admitted and cancelled in the same turn: pass it on
            raise

    def release(self) -> None:
        """Give a slot back: to the most urgent waiter, else to the pool."""
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self._busy -= 1

    @asynccontextmanager
    async def slot(self, rank: int = 0) -> AsyncIterator[None]:
        """Hold one slot for the block."""
        await self.acquire(rank)
        try:
            yield
        finally:
            self.release()
