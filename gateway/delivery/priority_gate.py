"""A bounded set of slots handed out most urgent first (delivery consumers serve urgent first).

RabbitMQ delivers the two lanes on their own channels, so an urgent task never waits in
the broker behind a backlog of normal ones; this gate makes it not wait behind them in
the process either: when every slot is taken, the next free slot goes to the waiter of
the highest rank. Within a rank, waiters are served fairly by flow (the sending calling
system): start-time fair queueing, so a flow's n-th waiter queues behind every other
flow's first, and a flood holding many waiters delays another system by one slot's turn,
not by its backlog. Waiters without a flow, or of one flow, are first come first served.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

_PRUNE_AT = 1024  # flows remembered before the stale ones are forgotten


class PriorityGate:
    """At most ``slots`` holders at once; waiters are admitted by rank (higher first), then
    fairly between flows."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self.slots = slots
        self._busy = 0
        self._order = itertools.count()
        self._waiters: list[tuple[int, int, int, asyncio.Future[None]]] = []
        self._clock = 0  # the start tag of the waiter admitted last (virtual time)
        self._next_tag: dict[Hashable, int] = {}  # per flow: the tag of its next waiter

    @property
    def busy(self) -> int:
        """Slots held now."""
        return self._busy

    @property
    def waiting(self) -> int:
        """Waiters not admitted yet."""
        return sum(1 for *_, f in self._waiters if not f.done())

    def _tag(self, flow: Hashable | None) -> int:
        if flow is None:
            return self._clock
        if len(self._next_tag) > _PRUNE_AT:
            self._next_tag = {f: t for f, t in self._next_tag.items() if t > self._clock}
        tag = max(self._clock, self._next_tag.get(flow, 0))
        self._next_tag[flow] = tag + 1
        return tag

    async def acquire(self, rank: int = 0, flow: Hashable | None = None) -> None:
        """Wait for a slot; a waiter of a higher ``rank`` is admitted before lower ones,
        and within a rank the waiters of ``flow`` take turns with other flows'."""
        if self._busy < self.slots and not self.waiting:
            self._busy += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-rank, self._tag(flow), next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # admitted and cancelled in the same turn: pass it on
            raise

    def release(self) -> None:
        """Give a slot back: to the most urgent waiter, else to the pool."""
        while self._waiters:
            _, tag, _, future = heapq.heappop(self._waiters)
            if not future.done():
                self._clock = max(self._clock, tag)
                future.set_result(None)
                return
        self._busy -= 1

    @asynccontextmanager
    async def slot(self, rank: int = 0, flow: Hashable | None = None) -> AsyncIterator[None]:
        """Hold one slot for the block (``flow``: see :meth:`acquire`)."""
        await self.acquire(rank, flow)
        try:
            yield
        finally:
            self.release()
