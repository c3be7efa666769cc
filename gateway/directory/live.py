"""A directory that lives in memory and follows the store: :class:`SqlDirectory`.

It loads every agency once, then polls the one-row ``directory_version`` table (every
``poll_interval`` seconds, 1 s by default) and reloads only the agencies stamped with a
newer revision, so a change made by the CLI, the admin API or a sync job in any process is
seen by every running worker within about a second, without restart. Resolution never
waits for the database. Send/receive activity is buffered and written in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.directory.records import load_activity, record_activity
from gateway.directory.resolver import InMemoryDirectory
from gateway.directory.store import current_version, load_agencies
from gateway.live_refresh import poll_forever, stop_polling
from gateway.ops import metrics

log = structlog.get_logger(__name__)


class SqlDirectory(InMemoryDirectory):
    """An :class:`InMemoryDirectory` filled from the store and kept current by polling.

    Use ``await load()`` once (or :meth:`start`, which loads and starts polling), and
    ``await close()`` at shutdown (stops polling, flushes activity).
    """

    def __init__(
        self,
        engine: AsyncEngine | None = None,
        *,
        poll_interval: float = 1.0,
        activity_flush_interval: float = 30.0,
        clock: Callable[[], datetime] | None = None,
        on_refresh: Callable[[SqlDirectory], None] | None = None,
    ) -> None:
        super().__init__((), clock=clock)
        self._engine = engine
        self.poll_interval = poll_interval
        self.activity_flush_interval = activity_flush_interval
        self.version = -1
        self.loaded_at: datetime | None = None
        self.checked_at: datetime | None = None  # last successful read of the store
        self._on_refresh = on_refresh
        self._pending: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The store this directory follows (set at construction or by :meth:`start`)."""
        if self._engine is None:
            raise RuntimeError("SqlDirectory has no engine yet: call start(engine)")
        return self._engine

    async def load(self) -> None:
        """Load every agency and the recorded activity from the store."""
        async with self.engine.connect() as conn:
            version = await current_version(conn)
            agencies = await load_agencies(conn)
            activity = await load_activity(conn)
        # Swap in one synchronous step so a concurrent resolve never sees half a load.
        self._by_code.clear()
        self._by_old.clear()
        self._by_system.clear()
        self.put_many(agencies)
        for code, at in activity.items():
            InMemoryDirectory.record_activity(self, code, at)
        self.version = version
        self._refreshed()

    async def refresh(self) -> bool:
        """Reload the agencies changed since the version last seen; True if any changed."""
        async with self.engine.connect() as conn:
            version = await current_version(conn)
            self.checked_at = self.clock()
            if version == self.version:
                return False
            changed = await load_agencies(conn, since=self.version)
        self.put_many(changed)
        self.version = version
        self._refreshed()
        log.info("directory.refreshed", version=version, changed=len(changed))
        return True

    def _refreshed(self) -> None:
        self.loaded_at = self.checked_at = self.clock()
        metrics.DIRECTORY_AGENCIES.set(len(self))
        if self._on_refresh is not None:
            self._on_refresh(self)

    def record_activity(self, code: str, at: datetime) -> None:
        """Note a send/receive at ``at``; written to the store at the next flush."""
        super().record_activity(code, at)
        agency = self.get(code)
        key = agency.code if agency is not None else code
        last = self._pending.get(key)
        if last is None or at > last:
            self._pending[key] = at

    async def flush_activity(self) -> int:
        """Write buffered activity to the store; return how many agencies were written."""
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        try:
            async with self.engine.begin() as conn:
                await record_activity(conn, pending)
        except BaseException:
            for code, at in pending.items():
                if code not in self._pending or self._pending[code] < at:
                    self._pending[code] = at
            raise
        return len(pending)

    async def start(self, engine: AsyncEngine | None = None) -> None:
        """Load the directory (from ``engine`` if given) and start polling in the background.

        The directory may be created before the engine exists (the application hands it
        to adapters at build time) and started once the store is open.
        """
        if engine is not None:
            self._engine = engine
        await self.load()
        if self._task is None:
            self._task = asyncio.create_task(self._poll(), name="directory-poll")

    async def close(self) -> None:
        """Stop polling and flush buffered activity."""
        await stop_polling(self._task)
        self._task = None
        with contextlib.suppress(Exception):
            await self.flush_activity()

    async def _poll(self) -> None:
        await poll_forever(
            self.refresh,
            self.flush_activity,
            poll_interval=self.poll_interval,
            flush_interval=self.activity_flush_interval,
            what="directory",
        )
