"""Scheduled duties: one scheduler per gateway process, one runner per duty per interval.

A :class:`Duty` is a name, an interval and an async job returning a short result text. Every
process runs a :class:`Scheduler` over the duties it can perform; which process runs a due
duty is decided in the store, through the one-row-per-duty ``duty_leases`` table: a process
claims the run with a conditional ``UPDATE … SET next_due_at = now + interval WHERE duty = …
AND next_due_at <= now AND (not running OR the run is stale)`` and runs the duty only when
its update changed the row. Two processes racing for the same due time cannot both win (the
row is locked by the first update; the second re-reads it and no longer matches). A run
that outlives its lease (the runner died) is taken over once the lease ends (the interval,
at least 1 min, at most 1 h); a process that stops cleanly hands its runs back at once.

The lease row also keeps the last run, its result and the next due time, so every process
reports the same state in ``/readyz`` and as metrics, whichever ran it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import Boolean, DateTime, Float, Integer, String, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from gateway.credentials.registry import Clock, utcnow
from gateway.directory.tables import utc
from gateway.ops.metrics import NAMESPACE, REGISTRY
from gateway.store.base import Base
from gateway.store.database import translate_errors

log = structlog.get_logger(__name__)


DUTY_RUNS = Counter(
    "duty_runs",
    "Duty runs performed by this process, by duty and result (ok|failed).",
    ["duty", "result"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
DUTY_LAST_RUN = Gauge(
    "duty_last_run_timestamp_seconds",
    "Unix time the last run of each duty finished (any process of the cluster).",
    ["duty"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
DUTY_NEXT_RUN = Gauge(
    "duty_next_run_timestamp_seconds",
    "Unix time each duty is next due (any process of the cluster may run it).",
    ["duty"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
DUTY_LAST_OK = Gauge(
    "duty_last_success",
    "1 when the last run of each duty succeeded, 0 when it failed.",
    ["duty"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)


class DutyLeaseRow(Base):
    """One scheduled duty: when it is next due, who runs or ran it, its last result."""

    __tablename__ = "duty_leases"

    duty: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    interval_s: Mapped[float] = mapped_column(Float)
    running: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_result: Mapped[str | None] = mapped_column(String(2000))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    runs: Mapped[int] = mapped_column(Integer, default=0)


_L = DutyLeaseRow.__table__


@dataclass(frozen=True)
class Duty:
    """A job the cluster runs once per ``interval_s``; ``run`` returns a short result text
    and raises on failure."""

    name: str
    interval_s: float
    run: Callable[[], Awaitable[str]]
    # Told of the duty's state at every tick, in every process (metrics that must not
    # depend on which process ran the duty).
    on_state: Callable[[DutyState], None] | None = None

    @property
    def lease(self) -> timedelta:
        """How long a claimed run may last before another process may take it over."""
        return timedelta(seconds=min(max(self.interval_s, 60.0), 3600.0))


@dataclass(frozen=True)
class DutyState:
    """What is known of one duty (from its lease row)."""

    name: str
    interval_s: float
    next_due_at: datetime | None = None
    running: bool = False
    owner: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    last_ok: bool | None = None
    last_result: str | None = None
    last_success_at: datetime | None = None
    runs: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of the state."""

        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at else None

        return {
            "name": self.name,
            "interval_s": self.interval_s,
            "last_run": iso(self.finished_at),
            "last_ok": self.last_ok,
            "last_result": self.last_result,
            "last_success": iso(self.last_success_at),
            "next_run": iso(self.next_due_at),
            "running": self.running,
            "owner": self.owner,
            "runs": self.runs,
        }

    def line(self) -> str:
        """One short line for the ``/readyz`` detail."""
        result = {None: "never run", True: "ok", False: "failed"}[self.last_ok]
        last = self.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.finished_at else "-"
        due = self.next_due_at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.next_due_at else "-"
        text = f" ({self.last_result[:80]})" if self.last_result else ""
        return f"{self.name}: {result}{text}, last {last}, next {due}"


def _state(row: Any) -> DutyState:
    return DutyState(
        name=row.duty,
        interval_s=row.interval_s,
        next_due_at=utc(row.next_due_at),
        running=bool(row.running),
        owner=row.owner,
        started_at=utc(row.started_at),
        finished_at=utc(row.finished_at),
        last_ok=row.last_ok,
        last_result=row.last_result,
        last_success_at=utc(row.last_success_at),
        runs=int(row.runs or 0),
    )


def default_owner() -> str:
    """This process's name in the lease table: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class DutyLeases:
    """The ``duty_leases`` table: claim a due run, record its end, read the states."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    async def states(self) -> dict[str, DutyState]:
        """Every duty's state, by name."""
        with translate_errors():
            async with self.engine.connect() as conn:
                rows = (await conn.execute(select(_L))).all()
        return {r.duty: _state(r) for r in rows}

    async def ensure(self, duties: Sequence[Duty]) -> None:
        """Create the lease row of each duty not seen before (due now)."""
        now = self.clock()
        known = await self.states()
        for duty in duties:
            if duty.name in known:
                continue
            with translate_errors():
                try:
                    async with self.engine.begin() as conn:
                        await conn.execute(
                            insert(_L).values(
                                duty=duty.name, next_due_at=now, interval_s=duty.interval_s, runs=0
                            )
                        )
                except IntegrityError:  # another process created it first
                    pass

    async def claim(self, duty: Duty, owner: str) -> bool:
        """Take the due run of ``duty`` for ``owner``; True when this call won it."""
        now = self.clock()
        stale = now - duty.lease
        with translate_errors():
            async with self.engine.begin() as conn:
                done = await conn.execute(
                    update(_L)
                    .where(
                        (_L.c.duty == duty.name)
                        & (_L.c.next_due_at <= now)
                        & ((_L.c.running.is_(False)) | (_L.c.started_at < stale))
                    )
                    .values(
                        next_due_at=now + timedelta(seconds=duty.interval_s),
                        interval_s=duty.interval_s,
                        running=True,
                        owner=owner,
                        started_at=now,
                    )
                )
        return done.rowcount == 1

    async def release(self, name: str, owner: str) -> None:
        """Hand back a run this owner could not finish (stopping): it is due again now."""
        with translate_errors():
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(_L)
                    .where((_L.c.duty == name) & (_L.c.owner == owner) & _L.c.running)
                    .values(running=False, next_due_at=self.clock())
                )

    async def finish(self, duty: Duty, owner: str, *, ok: bool, result: str) -> None:
        """Record the end of a run (also of a run started by hand, before any schedule)."""
        now = self.clock()
        values = {
            "running": False,
            "owner": owner,
            "finished_at": now,
            "last_ok": ok,
            "last_result": result[:2000],
        }
        if ok:
            values["last_success_at"] = now
        with translate_errors():
            async with self.engine.begin() as conn:
                done = await conn.execute(
                    update(_L).where(_L.c.duty == duty.name).values(runs=_L.c.runs + 1, **values)
                )
                if done.rowcount == 0:
                    await conn.execute(
                        insert(_L).values(
                            duty=duty.name,
                            next_due_at=now,
                            interval_s=duty.interval_s,
                            runs=1,
                            **values,
                        )
                    )


async def run_duty(duty: Duty, leases: DutyLeases, owner: str) -> tuple[bool, str]:
    """Run ``duty`` now and record its result; return (ok, result text). Never raises for
    a failing duty (the failure is the result)."""
    try:
        result, ok = await duty.run(), True
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a failing duty is reported, it never stops the scheduler
        detail = getattr(exc, "text_en", None) or str(exc) or type(exc).__name__
        result, ok = f"{type(exc).__name__}: {detail}", False
        log.warning("duty.failed", duty=duty.name, error=result)
    DUTY_RUNS.labels(duty=duty.name, result="ok" if ok else "failed").inc()
    await leases.finish(duty, owner, ok=ok, result=result)
    if ok:
        log.info("duty.ran", duty=duty.name, result=result)
    return ok, result


class Scheduler:
    """Runs the due duties of this process: one claim per due run, across the cluster."""

    def __init__(
        self,
        engine: AsyncEngine,
        duties: Sequence[Duty],
        *,
        owner: str | None = None,
        tick_s: float = 1.0,
        clock: Clock = utcnow,
    ) -> None:
        self.duties = {d.name: d for d in duties}
        self.leases = DutyLeases(engine, clock=clock)
        self.owner = owner or default_owner()
        self.tick_s = tick_s
        self.states: dict[str, DutyState] = {
            d.name: DutyState(d.name, d.interval_s) for d in duties
        }
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> list[str]:
        """Read the states, start every due duty this process wins; return their names."""
        states = await self.leases.states()
        missing = [d for d in self.duties.values() if d.name not in states]
        if missing:
            await self.leases.ensure(missing)
            states = await self.leases.states()
        self._publish(states)
        now = self.leases.clock()
        started = []
        for duty in self.duties.values():
            state = states.get(duty.name)
            if state is None or duty.name in self._running:
                continue
            if state.next_due_at is not None and state.next_due_at > now:
                continue
            if await self.leases.claim(duty, self.owner):
                task = asyncio.create_task(run_duty(duty, self.leases, self.owner))
                self._running[duty.name] = task
                task.add_done_callback(partial(self._ended, duty.name))
                started.append(duty.name)
        return started

    def _ended(self, name: str, _task: asyncio.Task[Any]) -> None:
        self._running.pop(name, None)

    def _publish(self, states: dict[str, DutyState]) -> None:
        for name in self.duties:
            state = states.get(name)
            if state is None:
                continue
            self.states[name] = state
            if state.finished_at is not None:
                DUTY_LAST_RUN.labels(duty=name).set(state.finished_at.timestamp())
            if state.next_due_at is not None:
                DUTY_NEXT_RUN.labels(duty=name).set(state.next_due_at.timestamp())
            if state.last_ok is not None:
                DUTY_LAST_OK.labels(duty=name).set(1 if state.last_ok else 0)
            hook = self.duties[name].on_state
            if hook is not None:
                hook(state)

    def detail(self) -> str:
        """The ``/readyz`` detail: one short line per duty."""
        return "; ".join(s.line() for s in self.states.values()) or "no duty"

    async def start(self) -> None:
        """Start ticking in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="duties")

    async def close(self) -> None:
        """Stop ticking and cancel the runs in progress (their lease expires)."""
        unfinished = list(self._running)
        tasks = [t for t in (self._task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        for name in unfinished:
            with contextlib.suppress(Exception):
                await self.leases.release(name, self.owner)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store may be down: try again next tick
                log.warning("duties.tick_failed", error=str(exc))
            await asyncio.sleep(self.tick_s)


def duties_check(scheduler: Callable[[], Scheduler | None]) -> Any:
    """The ``duties`` readiness check: always passing (a failed duty must not take the node
    out of service), its detail the last run, result and next run of every duty."""
    from gateway.ops.health import Check

    async def probe() -> str:
        current = scheduler()
        return current.detail() if current is not None else "scheduler not started"

    return Check("duties", probe, 1.0)
