"""Group commit: concurrent store requests share one transaction.

Every store transaction pays a fixed price (a connection from the pool, ``BEGIN``, the
commit, and on SQLite one writer at a time), which dominated the document path when each
accepted packet had its own transactions. A :class:`GroupCommit` queues the requests made
while a transaction is running and runs them all in the next one: under load the batches
grow by themselves, with no added delay when the store is idle. Each caller is answered
only after the transaction holding its request has committed.

If a batch fails as a whole (any exception out of ``process``: a database error, a unique
key violation from another process), it is rolled back and each of its requests is retried
alone, in its own transaction, so one bad request never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.database import transaction

log = structlog.get_logger(__name__)

I = TypeVar("I")  # noqa: E741  (request type)
R = TypeVar("R")  # result type


class Requeue:
    """Returned by ``process`` for a request that must run again in the next transaction
    (for example a second copy of a packet first stored by this very batch)."""


REQUEUE = Requeue()
# process(conn, requests) -> one outcome per request: a result, an exception to raise to
# that caller (nothing of that request may have been written), or REQUEUE.
Process = Callable[[AsyncConnection, Sequence[I]], Awaitable[Sequence[Any]]]


class GroupCommit(Generic[I, R]):
    """Runs store requests in shared transactions; one background writer per instance."""

    def __init__(self, engine: AsyncEngine, process: Process[I], *, max_batch: int = 256) -> None:
        self._engine = engine
        self._process = process
        self._max_batch = max_batch
        self._queue: list[tuple[I, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: list[asyncio.Future[R]] = []

    def enqueue(self, request: I) -> asyncio.Future[R]:
        """Queue ``request``; the returned future resolves after its transaction commits."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return future

    async def submit(self, request: I) -> R:
        """Run ``request`` in the next shared transaction and return its outcome."""
        return await self.enqueue(request)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                self._running = [f for _, f in batch]
                try:
                    await self._execute(batch)
                finally:
                    self._running = []

    async def _execute(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        live = [(r, f) for r, f in batch if not f.done()]
        if not live:
            return
        try:
            outcomes = await self._commit([r for r, _ in live])
        except Exception as exc:
            if len(live) == 1:
                _settle(live[0][1], exc)
                return
            log.info("group_commit.batch_failed; retrying one by one", size=len(live))
            for one in live:
                await self._execute([one])
            return
        for (request, future), outcome in zip(live, outcomes, strict=True):
            if outcome is REQUEUE:
                self._queue.append((request, future))
                self._wake.set()
            else:
                _settle(future, outcome)

    async def _commit(self, requests: list[I]) -> Sequence[Any]:
        async with transaction(self._engine) as conn:
            outcomes = await self._process(conn, requests)
        if len(outcomes) != len(requests):
            raise RuntimeError("group commit: one outcome per request expected")
        return outcomes

    async def flush(self) -> None:
        """Wait until every request queued so far has been answered."""
        pending = [*self._running, *(f for _, f in self._queue)]
        if pending:
            await asyncio.wait(pending)

    async def close(self, timeout: float = 10.0) -> None:
        """Answer what is queued (waiting up to ``timeout`` seconds), then stop the writer."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout=timeout)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for _, future in self._queue:
            if not future.done():
                future.cancel()
        self._queue.clear()


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
