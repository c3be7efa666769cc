"""The live registry of calling systems: :class:`SqlCallingSystems`.

It loads every system once (secrets opened in memory only), then polls the one-row
``systems_version`` table every ``poll_interval`` seconds (1 s by default), the mechanism
:class:`gateway.directory.live.SqlDirectory` uses, and reloads when the version moved: a
system added, rotated, disabled or enabled by the CLI or the admin API in any process is seen
by every running process within about a second, without restart. Which secrets are valid is
decided at each lookup with the registry's clock, so an old secret stops at the end of its
overlap even if nothing changes in the store. Sending/fetching activity is buffered and
written in batches (the inactivity rule reads it).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import structlog

from gateway.credentials.registry import Clock, SystemRecord, utcnow
from gateway.credentials.store import StoredSystem, SystemsStore
from gateway.live_refresh import poll_forever, stop_polling

log = structlog.get_logger(__name__)


class SqlCallingSystems:
    """A :class:`gateway.credentials.registry.CallingSystems` that follows the store.

    Create it early (adapters receive it at build time), then ``await start(store)`` once
    the store is open and ``await close()`` at shutdown.
    """

    def __init__(
        self,
        *,
        poll_interval: float = 1.0,
        activity_flush_interval: float = 30.0,
        clock: Clock = utcnow,
    ) -> None:
        self.poll_interval = poll_interval
        self.activity_flush_interval = activity_flush_interval
        self.clock = clock
        self.version = -1
        self.checked_at: datetime | None = None
        self._store: SystemsStore | None = None
        self._systems: dict[str, StoredSystem] = {}
        self._revoked: frozenset[tuple[str, str]] = frozenset()
        self._pending: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def store(self) -> SystemsStore:
        """The store this registry follows (set by :meth:`start`)."""
        if self._store is None:
            raise RuntimeError("SqlCallingSystems has no store yet: call start(store)")
        return self._store

    def get(self, system_id: str) -> SystemRecord | None:
        """Return the system with the secrets valid now, or ``None`` when unknown."""
        stored = self._systems.get(system_id)
        return stored.at(self.clock()) if stored is not None else None

    def is_revoked(self, system_id: str, token_id: str) -> bool:
        """True when the bearer token ``token_id`` of ``system_id`` was revoked (any process)."""
        return (system_id, token_id) in self._revoked

    def records(self) -> list[SystemRecord]:
        """Every system with the secrets valid now (enabled or not)."""
        now = self.clock()
        return [stored.at(now) for stored in self._systems.values()]

    def __len__(self) -> int:
        return len(self._systems)

    def note_activity(self, system_id: str, at: datetime | None = None) -> None:
        """Remember that the system sent or fetched; written at the next flush."""
        at = at or self.clock()
        last = self._pending.get(system_id)
        if last is None or at > last:
            self._pending[system_id] = at

    async def load(self) -> None:
        """Load every system from the store."""
        snapshot = await self.store.snapshot()
        self._systems = snapshot.systems  # one assignment: a lookup never sees half a load
        self._revoked = snapshot.revoked
        self.version = snapshot.version
        self.checked_at = self.clock()

    async def refresh(self) -> bool:
        """Reload when the version moved; return True when it did."""
        version = await self.store.version()
        self.checked_at = self.clock()
        if version == self.version:
            return False
        await self.load()
        log.info("systems.refreshed", version=self.version, systems=len(self._systems))
        return True

    async def flush_activity(self) -> int:
        """Write buffered activity; return how many systems were written."""
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        try:
            await self.store.record_activity(pending)
        except BaseException:
            for system_id, at in pending.items():
                self.note_activity(system_id, at)
            raise
        return len(pending)

    async def start(self, store: SystemsStore) -> None:
        """Load from ``store`` and follow its changes in the background."""
        self._store = store
        await self.load()
        if self._task is None:
            self._task = asyncio.create_task(self._poll(), name="systems-poll")

    async def close(self) -> None:
        """Stop polling and flush buffered activity."""
        await stop_polling(self._task)
        self._task = None
        if self._store is not None:
            with contextlib.suppress(Exception):
                await self.flush_activity()

    async def _poll(self) -> None:
        await poll_forever(
            self.refresh,
            self.flush_activity,
            poll_interval=self.poll_interval,
            flush_interval=self.activity_flush_interval,
            what="systems",
        )
