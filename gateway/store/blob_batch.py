"""Blob writes of concurrent requests gathered into one trip to a thread.

Each accepted packet's bytes are written (and fsynced) before the store transaction that
names them. Written one by one, every packet paid a trip to a worker thread and two
fsyncs of its own. :class:`BlobBatch` queues the writes that arrive while one batch is
being written and hands them all to the next: under load the batches grow by themselves,
with no added delay when idle (the same shape as ``gateway.store.group_commit``). Each
caller is answered only once its own file is durable, or gets its own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

# write_many(blobs) -> the error of each blob that could not be written (none: all durable)
WriteMany = Callable[[Mapping[str, bytes]], Mapping[str, OSError]]


class BlobBatch:
    """Gathers concurrent :meth:`put` calls into calls of ``write_many`` in a thread."""

    def __init__(self, write_many: WriteMany) -> None:
        self._write_many = write_many
        self._queue: dict[str, tuple[bytes, list[asyncio.Future[None]]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def put(self, key: str, data: bytes) -> None:
        """Write ``data`` under ``key`` with the next batch; return once it is durable."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = self._queue.setdefault(key, (data, []))
        entry[1].append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        await future

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, {}
            try:
                errors = await asyncio.to_thread(
                    self._write_many, {key: data for key, (data, _) in batch.items()}
                )
            except Exception as exc:  # not an OSError of one blob: fails the whole batch
                errors = dict.fromkeys(batch, exc)  # type: ignore[arg-type]
            for key, (_, futures) in batch.items():
                error = errors.get(key)
                for future in futures:
                    if future.done():
                        continue
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)
