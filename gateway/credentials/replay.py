"""The one replay cache: signatures seen recently, refused a second time within a window.

Used by every door that refuses replays (the native API's signed requests, the VXP door's
``strict`` profile), through one instance per process that the ``Authenticator`` owns. In
memory and per process, bounded by time (``window_s``) and size
(``max_entries``, oldest forgotten first); thread-safe, because the VXP door may verify off
the event loop. Across processes a replay is bounded by the timestamp window only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class ReplayCache:
    """Keys seen within the last ``window_s`` seconds (of the caller's clock)."""

    def __init__(self, window_s: float, max_entries: int = 200_000) -> None:
        self.window_s = window_s
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at <= self.window_s and len(self._seen) < self._max:
                break
            del self._seen[oldest]

    def seen(self, key: str, now: float) -> bool:
        """True when ``key`` was seen within the window (nothing recorded)."""
        with self._lock:
            self._expire(now)
            return key in self._seen

    def check_and_add(self, key: str, now: float) -> bool:
        """Record ``key``; return ``False`` when it was already seen within the window."""
        with self._lock:
            self._expire(now)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True
