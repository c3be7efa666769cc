"""The polling loop that keeps a process's in-memory copy of a store table current.

The directory and the calling systems are read on every request from memory; each running
process polls the store for a newer version and writes back the activity it buffered. One
loop serves both, so they behave alike when the store is down (keep serving what we have).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


async def poll_forever(
    refresh: Callable[[], Awaitable[object]],
    flush_activity: Callable[[], Awaitable[object]],
    *,
    poll_interval: float,
    flush_interval: float,
    what: str,
) -> None:
    """Call ``refresh`` every ``poll_interval`` seconds and ``flush_activity`` every
    ``flush_interval``; a failure is logged as ``{what}.refresh_failed`` and the loop goes
    on. Runs until cancelled."""
    loop = asyncio.get_running_loop()
    next_flush = loop.time() + flush_interval
    while True:
        await asyncio.sleep(poll_interval)
        try:
            await refresh()
            if loop.time() >= next_flush:
                next_flush = loop.time() + flush_interval
                await flush_activity()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store may be down: keep serving what we have
            log.warning(f"{what}.refresh_failed", error=str(exc))


async def stop_polling(task: asyncio.Task[None] | None) -> None:
    """Cancel a polling task started with :func:`poll_forever` and wait for it to end."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
