"""The gateway's scheduled duties, built from the settings and the open resources.

``directory-sync`` (full import from the configured source), ``inactivity`` (suspend calling
systems that neither sent nor fetched for ``duties.inactivity_months``, revoke them
``duties.revoke_after_days`` later; 004 art. 8-9), ``certificates`` (expiry of the node
certificate and the trust anchors), ``audit-verify`` (the whole hash chain; result as
``edoc_gateway_audit_chain_ok``) and ``outbox-sweep`` (republish stored but unpublished
deliveries; only in a process with a broker). Being *addressed* never counts as activity:
only the calling system's own sends and fetches do
(:meth:`gateway.core.operations.Gateway.on_activity`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit.chain import verify_chain
from gateway.config import Settings
from gateway.credentials.registry import Clock, utcnow
from gateway.credentials.store import SystemsStore
from gateway.delivery import outbox
from gateway.directory.sync import DirectorySource, FileSource, sync_once
from gateway.ops import certs
from gateway.ops.duties import Duty, DutyState
from gateway.ops.metrics import DIRECTORY_LAST_SYNC, NAMESPACE, REGISTRY

log = structlog.get_logger(__name__)

NAMES = ("directory-sync", "inactivity", "certificates", "audit-verify", "outbox-sweep")

AUDIT_CHAIN_OK = Gauge(
    "audit_chain_ok",
    "1 when the last audit chain verification found the chain intact, 0 otherwise.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
AUDIT_CHAIN_PROBLEMS = Gauge(
    "audit_chain_problems",
    "Problems found by the last audit chain verification.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
SYSTEMS_SUSPENDED = Counter(
    "systems_suspended",
    "Calling systems suspended by the inactivity rule.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
SYSTEMS_REVOKED = Counter(
    "systems_revoked",
    "Calling systems revoked after their suspension for inactivity.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)


class HttpSource:
    """A :class:`DirectorySource` reading a JSON agency list from an HTTP(S) URL."""

    def __init__(self, url: str, *, timeout_s: float = 60.0) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def fetch(self) -> list[dict[str, Any]]:
        """Download and return the records (axis ``data`` envelope or a plain list)."""
        async with (
            aiohttp.ClientSession(timeout=self.timeout) as session,
            session.get(self.url) as response,
        ):
            response.raise_for_status()
            document = json.loads(await response.read())
        if isinstance(document, dict):
            document = document.get("data") or document.get("agencies") or []
        return list(document)


def directory_source(settings: Settings) -> DirectorySource | None:
    """The source named by ``directory.url`` (http(s) URL, ``file://`` URL or path; the
    word ``upstream`` names the upstream axis, built by the composition root)."""
    url = settings.directory.url
    if not url or url == "upstream":
        return None
    if url.startswith(("http://", "https://")):
        return HttpSource(url)
    return FileSource(Path(url.removeprefix("file://")))


def months_before(at: datetime, months: int) -> datetime:
    """``at`` moved back by calendar months (the day clamped to the shorter month)."""
    index = at.year * 12 + at.month - 1 - months
    year, month = divmod(index, 12)
    for day in range(at.day, 27, -1):
        try:
            return at.replace(year=year, month=month + 1, day=day)
        except ValueError:
            continue
    return at.replace(year=year, month=month + 1, day=min(at.day, 28))


@dataclass(frozen=True)
class InactivityResult:
    """The systems suspended and revoked by one run of the inactivity rule."""

    suspended: tuple[str, ...]
    revoked: tuple[str, ...]

    def text(self) -> str:
        """Short result text of the duty."""
        return f"suspended {list(self.suspended)}, revoked {list(self.revoked)}"


async def apply_inactivity(
    store: SystemsStore,
    *,
    months: int,
    revoke_after_days: int,
    clock: Clock = utcnow,
    flush: Callable[[], Awaitable[Any]] | None = None,
) -> InactivityResult:
    """Suspend active systems idle for ``months``; revoke the ones suspended more than
    ``revoke_after_days`` ago. Each decision: one audit record, a warning log, a metric."""
    if flush is not None:
        await flush()  # this process's buffered activity first
    now = clock()
    cutoff = months_before(now, months)
    suspended = []
    for view in await store.idle(cutoff):
        since = view.last_activity_at or view.created_at
        reason = f"inactivity: no sending or fetching since {since.isoformat()}"
        await store.suspend(view.id, actor="duty:inactivity", reason=reason)
        SYSTEMS_SUSPENDED.inc()
        log.warning("system.suspended_inactive", system=view.id, since=since.isoformat())
        suspended.append(view.id)
    revoked = []
    for view in await store.suspended_before(now - timedelta(days=revoke_after_days)):
        reason = f"inactivity: suspended since {view.status_changed_at}"
        await store.revoke(view.id, actor="duty:inactivity", reason=reason)
        SYSTEMS_REVOKED.inc()
        log.warning("system.revoked_inactive", system=view.id)
        revoked.append(view.id)
    return InactivityResult(tuple(suspended), tuple(revoked))


class AuditChainBroken(Exception):
    """Raised by the ``audit-verify`` duty when the chain has problems (the duty fails)."""


async def verify_audit(engine: AsyncEngine) -> str:
    """Verify the whole audit chain; export the result; raise when it is broken."""
    async with engine.connect() as conn:
        problems = await verify_chain(conn)
    AUDIT_CHAIN_OK.set(0 if problems else 1)
    AUDIT_CHAIN_PROBLEMS.set(len(problems))
    if problems:
        log.error("audit.chain_broken", problems=problems[:20], count=len(problems))
        raise AuditChainBroken(f"{len(problems)} problems, first: {problems[0]}")
    return "chain intact"


def _synced_at(state: DutyState) -> None:
    # Every process exports the cluster's last successful sync, not only the one that ran it.
    if state.last_success_at is not None:
        DIRECTORY_LAST_SYNC.set(state.last_success_at.timestamp())


def _audit_state(state: DutyState) -> None:
    if state.last_ok is not None:
        AUDIT_CHAIN_OK.set(1 if state.last_ok else 0)


def build_duties(
    settings: Settings,
    *,
    engine: AsyncEngine,
    systems: SystemsStore | None = None,
    broker: Any = None,
    source: DirectorySource | None = None,
    flush_activity: Callable[[], Awaitable[Any]] | None = None,
    clock: Clock = utcnow,
) -> list[Duty]:
    """The duties this process can perform with what it has opened."""
    cfg = settings.duties
    duties: list[Duty] = []
    if source is not None:

        async def sync() -> str:
            summary = (await sync_once(engine, source)).summary()
            return ", ".join(f"{k}={v}" for k, v in summary.items() if not k.endswith("_codes"))

        duties.append(
            Duty("directory-sync", cfg.directory_sync_interval_s, sync, on_state=_synced_at)
        )
    if systems is not None:

        async def inactivity() -> str:
            result = await apply_inactivity(
                systems,
                months=cfg.inactivity_months,
                revoke_after_days=cfg.revoke_after_days,
                clock=clock,
                flush=flush_activity,
            )
            return result.text()

        duties.append(Duty("inactivity", cfg.inactivity_interval_s, inactivity))
    named = certs.certificate_names(settings.node.cert_file, tuple(settings.trust.anchors))

    async def certificates() -> str:
        statuses = await asyncio.to_thread(certs.check_certificates, named)
        expiring = [s.name for s in statuses if s.expiring]
        return f"{len(statuses)} checked, expiring or unreadable: {expiring}"

    duties.append(Duty("certificates", cfg.certificates_interval_s, certificates))

    async def audit_verify() -> str:
        return await verify_audit(engine)

    duties.append(
        Duty("audit-verify", cfg.audit_verify_interval_s, audit_verify, on_state=_audit_state)
    )
    if broker is not None:
        amqp = settings.amqp
        duties.append(outbox_duty(engine, broker, amqp.outbox_interval_s, amqp.outbox_older_than_s))
    return duties


def outbox_duty(engine: AsyncEngine, broker: Any, interval_s: float, older_than_s: float) -> Duty:
    """The ``outbox-sweep`` duty (also run by the stand-alone delivery worker)."""

    async def sweep() -> str:
        count = await outbox.sweep(engine, broker, older_than_s=older_than_s)
        return f"{count} republished"

    return Duty("outbox-sweep", interval_s, sweep)
