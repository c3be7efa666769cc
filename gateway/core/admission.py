"""Admission control at intake: overload is refused at once, not queued.

A process accepts at most ``max_in_flight`` documents at a time (from arrival to answer),
and one calling system at most ``per_system`` of them, so one system cannot take the whole
process (its check workers, store batches and publishes). A document beyond either bound
is refused immediately with :class:`gateway.errors.Overloaded` (REST ``503`` with
``Retry-After``, VXP ``FAIL`` ErrorCode 20, SOAP its fault) and counted in
``edoc_gateway_intake_shed_total``; the documents already admitted keep their latency,
because the queues behind intake never hold more than ``max_in_flight`` of them.
Packets the node makes itself (status 01, failure notices) are not subject to it; urgent
documents (priority 2–4) have a small reserve above both bounds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge

from gateway.errors import Overloaded
from gateway.ops.metrics import NAMESPACE, REGISTRY

SHED = PromCounter(
    "intake_shed",
    "Documents refused at intake because of overload, by scope (process|system).",
    ["scope"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    "intake_in_flight",
    "Documents admitted at intake and not answered yet.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)


@dataclass(frozen=True)
class Limits:
    """The bounds of admission (``0`` disables a bound)."""

    max_in_flight: int = 128
    per_system: int = 64
    retry_after_s: int = 1
    # Extra places for urgent documents (priority 2–4) above both bounds, so that under
    # overload an urgent document is still taken while ordinary ones are refused.
    urgent_reserve: int = 16


class Admission:
    """Counts documents in flight, per process and per calling system, and sheds the rest."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._total = 0
        self._by_system: Counter[str] = Counter()

    @property
    def in_flight(self) -> int:
        """Documents admitted and not answered yet."""
        return self._total

    def enter(self, system_id: str, *, urgent: bool = False) -> None:
        """Admit one document of ``system_id`` or raise ``Overloaded`` (nothing counted);
        an ``urgent`` one may also take a place of the urgent reserve."""
        limits = self.limits
        extra = limits.urgent_reserve if urgent else 0
        scope = None
        if limits.max_in_flight and self._total >= limits.max_in_flight + extra:
            scope = "process"
        elif limits.per_system and self._by_system[system_id] >= limits.per_system + extra:
            scope = "system"
        if scope is not None:
            SHED.labels(scope=scope).inc()
            raise Overloaded(
                f"{scope} limit of documents in flight reached",
                retry_after_s=limits.retry_after_s,
            )
        self._total += 1
        self._by_system[system_id] += 1
        IN_FLIGHT.inc()

    def leave(self, system_id: str) -> None:
        """Count one admitted document of ``system_id`` as answered."""
        self._total -= 1
        self._by_system[system_id] -= 1
        if self._by_system[system_id] <= 0:
            del self._by_system[system_id]
        IN_FLIGHT.dec()

    @contextmanager
    def admit(self, system_id: str, *, urgent: bool = False) -> Iterator[None]:
        """Hold one place for the block, or raise ``Overloaded`` before entering it."""
        self.enter(system_id, urgent=urgent)
        try:
            yield
        finally:
            self.leave(system_id)


_HEADER_BYTES = 64 * 1024
_PRIORITY = re.compile(rb"<(?:[\w.-]+:)?Priority>\s*([0-4])\s*</")


def claims_urgent(raw: bytes) -> bool:
    """Whether the packet's header claims priority 2–4, read before any parsing.

    Only admission uses this (a byte search in the first 64 KB, where the header is); the
    delivery lane comes from the parsed, checked packet. A false claim gains at most a
    place of the bounded urgent reserve, and only until the checks refuse or route it.
    """
    match = _PRIORITY.search(raw, 0, _HEADER_BYTES)
    return match is not None and match.group(1) in (b"2", b"3", b"4")
