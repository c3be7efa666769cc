"""Group commit: concurrent store requests share one transaction.

Every store transaction pays a fixed price (a connection from the pool, ``BEGIN``, the
commit, a round trip to the driver's thread for each statement, and on SQLite one writer
at a time), which dominated the document path when each accepted packet, each published
batch and each delivery had transactions of their own. Requests made through any
:class:`GroupCommit` of the same engine are queued while a transaction runs and all run in
the next one: under load the batches grow by themselves, with no added delay when the
store is idle. Each caller is answered only after the transaction holding its request has
committed.

A :class:`GroupCommit` is one *lane*: a kind of request and the function that processes a
batch of them (storing packets, marking deliveries, …). All lanes of an engine share one
writer, so one transaction carries the store of new packets, the marks of published and
delivered deliveries and the loads of the delivery workers together.

If a transaction fails as a whole (any exception out of a lane: a database error, a unique
key violation from another process), it is rolled back and retried lane by lane, then
request by request, each alone, so one bad request never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.database import transaction

log = structlog.get_logger(__name__)

I = TypeVar("I")  # noqa: E741  (request type)
R = TypeVar("R")  # result type


class Requeue:
    """Returned by a lane for a request that must run again in the next transaction
    (for example a second copy of a packet first stored by this very batch)."""


REQUEUE = Requeue()
# process(conn, requests) -> one outcome per request: a result, an exception to raise to
# that caller (nothing of that request may have been written), or REQUEUE.
Process = Callable[[AsyncConnection, Sequence[Any]], Awaitable[Sequence[Any]]]
_Item = tuple["GroupCommit[Any, Any]", Any, "asyncio.Future[Any]"]


class _Writer:
    """The one writer of an engine: drains the queue of every lane into transactions."""

    def __init__(self, engine: AsyncEngine, max_batch: int) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.queue: list[_Item] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, item: _Item) -> None:
        self.queue.append(item)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        # Runs while there is work, then ends; ``add`` starts it again.
        while self.queue:
            batch = self.queue[: self.max_batch]
            del self.queue[: self.max_batch]
            await self._execute(batch)

    async def _execute(self, batch: list[_Item]) -> None:
        live = [item for item in batch if not item[2].done()]
        if not live:
            return
        lanes: dict[GroupCommit[Any, Any], list[_Item]] = {}
        for item in live:
            lanes.setdefault(item[0], []).append(item)
        try:
            outcomes = await self._commit(lanes)
        except Exception as exc:
            if len(live) == 1:
                _settle(live[0][2], exc)
                return
            log.info("group_commit.batch_failed; retrying in parts", size=len(live))
            parts = list(lanes.values()) if len(lanes) > 1 else [[item] for item in live]
            for part in parts:
                await self._execute(part)
            return
        for item, outcome in outcomes:
            if outcome is REQUEUE:
                self.queue.append(item)
            else:
                _settle(item[2], outcome)

    async def _commit(
        self, lanes: dict[GroupCommit[Any, Any], list[_Item]]
    ) -> list[tuple[_Item, Any]]:
        results: list[tuple[_Item, Any]] = []
        async with transaction(self.engine) as conn:
            for lane, items in lanes.items():
                outcomes = await lane.process(conn, [request for _, request, _ in items])
                if len(outcomes) != len(items):
                    raise RuntimeError("group commit: one outcome per request expected")
                results.extend(zip(items, outcomes, strict=True))
        return results


_writers: weakref.WeakKeyDictionary[Any, _Writer] = weakref.WeakKeyDictionary()


def _writer_for(engine: AsyncEngine, max_batch: int) -> _Writer:
    writer = _writers.get(engine.sync_engine)
    if writer is None or (
        writer.task is not None and writer.task.get_loop() is not asyncio.get_running_loop()
    ):
        writer = _writers[engine.sync_engine] = _Writer(engine, max_batch)
    return writer


class GroupCommit(Generic[I, R]):
    """One lane of requests run in the shared transactions of ``engine``'s writer."""

    def __init__(self, engine: AsyncEngine, process: Process, *, max_batch: int = 512) -> None:
        self.engine = engine
        self.process = process
        self._max_batch = max_batch
        self._pending: set[asyncio.Future[R]] = set()

    def enqueue(self, request: I) -> asyncio.Future[R]:
        """Queue ``request``; the returned future resolves after its transaction commits."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        _writer_for(self.engine, self._max_batch).add((self, request, future))
        return future

    async def submit(self, request: I) -> R:
        """Run ``request`` in the next shared transaction and return its outcome."""
        return await self.enqueue(request)

    async def flush(self) -> None:
        """Wait until every request of this lane queued so far has been answered."""
        if self._pending:
            await asyncio.wait(list(self._pending))

    async def close(self, timeout: float = 10.0) -> None:
        """Wait up to ``timeout`` seconds for this lane's queued requests to be answered."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout=timeout)


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
