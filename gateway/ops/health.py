"""Readiness checks (store, broker, node key, trust anchors, directory, disk) and maintenance.

A :class:`Check` is a name, an async probe and its own timeout. The probe returns a short
detail on success and raises (any exception) on failure; a probe that outlives its timeout
fails with ``timeout``. :class:`HealthChecker` runs all checks concurrently and reports which
failed; a process in maintenance mode is not ready whatever the checks say, so a load
balancer drains it while an operator works.
"""

from __future__ import annotations

import asyncio
import inspect
import shutil
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ops.certs import load_certificates
from gateway.ops.metrics import HEALTH_CHECK_UP, MAINTENANCE_MODE

Probe = Callable[[], Awaitable[str | None]]


class CheckFailed(Exception):
    """Raised by a probe to fail its check with a readable reason."""


@dataclass(frozen=True)
class Check:
    """One readiness check: a name, an async probe and the probe's own timeout."""

    name: str
    probe: Probe
    timeout_s: float = 2.0


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check."""

    name: str
    ok: bool
    detail: str
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of this result."""
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "duration_ms": round(self.duration_ms, 3),
        }


@dataclass
class Maintenance:
    """The maintenance flag of this process, switched by an operator."""

    active: bool = False
    reason: str = ""
    by: str | None = None
    since: datetime | None = None

    def switch_on(self, reason: str = "", by: str | None = None) -> None:
        """Enter maintenance mode: ``/readyz`` answers 503 until :meth:`switch_off`."""
        self.active, self.reason, self.by, self.since = True, reason, by, datetime.now(UTC)
        MAINTENANCE_MODE.set(1)

    def switch_off(self) -> None:
        """Leave maintenance mode."""
        self.active, self.reason, self.by, self.since = False, "", None, None
        MAINTENANCE_MODE.set(0)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of the flag."""
        return {
            "active": self.active,
            "reason": self.reason,
            "by": self.by,
            "since": self.since.isoformat() if self.since else None,
        }


@dataclass(frozen=True)
class Readiness:
    """Result of one readiness run."""

    checks: tuple[CheckResult, ...]
    maintenance: Maintenance

    @property
    def ok(self) -> bool:
        """True when every check passed and maintenance mode is off."""
        return not self.maintenance.active and all(c.ok for c in self.checks)

    @property
    def failing(self) -> list[str]:
        """Names of the failing checks (``maintenance`` first when it is on)."""
        names = ["maintenance"] if self.maintenance.active else []
        return names + [c.name for c in self.checks if not c.ok]

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON body of ``/readyz``."""
        return {
            "status": "ready" if self.ok else "not_ready",
            "failing": self.failing,
            "maintenance": self.maintenance.as_dict(),
            "checks": [c.as_dict() for c in self.checks],
        }


@dataclass
class HealthChecker:
    """Runs the readiness checks concurrently, each under its own timeout."""

    checks: list[Check]
    maintenance: Maintenance = field(default_factory=Maintenance)

    async def run(self) -> Readiness:
        """Run every check and return the readiness (also exported as metrics)."""
        results = await asyncio.gather(*(_run_one(check) for check in self.checks))
        for result in results:
            HEALTH_CHECK_UP.labels(check=result.name).set(1 if result.ok else 0)
        return Readiness(tuple(results), self.maintenance)


async def _run_one(check: Check) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check.probe(), timeout=check.timeout_s)
        ok, text_ = True, detail or "ok"
    except TimeoutError:
        ok, text_ = False, f"timeout after {check.timeout_s:g} s"
    except Exception as exc:
        ok, text_ = False, str(exc) or type(exc).__name__
    return CheckResult(check.name, ok, text_, (time.perf_counter() - started) * 1000)


def store_check(engine: AsyncEngine, timeout_s: float = 2.0) -> Check:
    """The database answers ``SELECT 1``."""

    async def probe() -> str:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return f"{engine.dialect.name} ok"

    return Check("store", probe, timeout_s)


def broker_check(is_ready: Callable[[], Any], timeout_s: float = 2.0) -> Check:
    """The broker connection is open: ``is_ready()`` (sync or async) returns true.

    For an aio-pika robust connection pass ``lambda: not connection.is_closed``.
    """

    async def probe() -> str:
        value = is_ready()
        if inspect.isawaitable(value):
            value = await value
        if not value:
            raise CheckFailed("broker connection is closed")
        return "connected"

    return Check("broker", probe, timeout_s)


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _node_key_state(key_file: Path, cert_file: Path, now: datetime) -> str:
    # Presence, parse and key/certificate match only; the expensive RSA validation is skipped.
    key = load_pem_private_key(
        Path(key_file).read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
    )
    cert = load_certificates(Path(cert_file))[0]
    if _spki(cert.public_key()) != _spki(key.public_key()):
        raise CheckFailed("node key does not match the node certificate")
    if cert.not_valid_after_utc <= now:
        raise CheckFailed(f"node certificate expired at {cert.not_valid_after_utc.isoformat()}")
    if cert.not_valid_before_utc > now:
        raise CheckFailed("node certificate is not valid yet")
    days = (cert.not_valid_after_utc - now).total_seconds() / 86400
    return f"valid for {days:.0f} more days"


def node_key_check(
    key_file: Path,
    cert_file: Path,
    timeout_s: float = 2.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Check:
    """The node's signing key loads, matches its certificate, and the certificate is valid."""

    async def probe() -> str:
        try:
            return await asyncio.to_thread(_node_key_state, key_file, cert_file, clock())
        except (OSError, ValueError, TypeError) as exc:
            raise CheckFailed(f"node key or certificate unreadable: {exc}") from exc

    return Check("node_key", probe, timeout_s)


def _anchors_state(anchors: tuple[Path, ...], now: datetime) -> str:
    if not anchors:
        return "no trust anchors configured"
    valid = 0
    for path in anchors:
        try:
            certs = load_certificates(Path(path))
        except (OSError, ValueError) as exc:
            raise CheckFailed(f"trust anchor {path} unreadable: {exc}") from exc
        valid += sum(1 for c in certs if c.not_valid_before_utc <= now < c.not_valid_after_utc)
    if valid == 0:
        raise CheckFailed("no trust anchor is currently valid")
    return f"{valid} valid anchor certificate(s)"


def trust_anchors_check(
    anchors: Iterable[Path],
    timeout_s: float = 2.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Check:
    """Every configured trust anchor file reads, and at least one anchor is valid now."""
    paths = tuple(Path(p) for p in anchors)

    async def probe() -> str:
        return await asyncio.to_thread(_anchors_state, paths, clock())

    return Check("trust_anchors", probe, timeout_s)


def directory_check(
    last_sync: Callable[[], datetime | None],
    max_age: timedelta = timedelta(hours=24),
    size: Callable[[], int] | None = None,
    timeout_s: float = 1.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Check:
    """The directory is loaded (non-empty) and was synchronised within ``max_age``."""

    async def probe() -> str:
        count = size() if size is not None else None
        if count == 0:
            raise CheckFailed("directory is empty")
        synced = last_sync()
        if synced is None:
            raise CheckFailed("directory never synchronised")
        age = clock() - synced
        if age > max_age:
            raise CheckFailed(f"directory last synchronised {age.total_seconds():.0f} s ago")
        known = "?" if count is None else str(count)
        return f"{known} agencies, synced {age.total_seconds():.0f} s ago"

    return Check("directory", probe, timeout_s)


def disk_space_check(
    path: Path,
    min_free_bytes: int = 32 << 20,
    min_free_ratio: float = 0.05,
    timeout_s: float = 2.0,
) -> Check:
    """The file system holding ``path`` (blobs, SQLite) keeps enough free space."""

    async def probe() -> str:
        target = Path(path)
        while not target.exists() and target != target.parent:
            target = target.parent
        usage = await asyncio.to_thread(shutil.disk_usage, target)
        ratio = usage.free / usage.total if usage.total else 0.0
        if usage.free < min_free_bytes or ratio < min_free_ratio:
            raise CheckFailed(f"only {usage.free // 2**20} MiB free ({ratio:.1%}) on {target}")
        return f"{usage.free // 2**20} MiB free ({ratio:.1%})"

    return Check("disk", probe, timeout_s)


def readiness_checks(
    settings: Any,
    *,
    engine: AsyncEngine,
    broker_ready: Callable[[], Any],
    directory_last_sync: Callable[[], datetime | None],
    directory_size: Callable[[], int] | None = None,
    directory_max_age: timedelta = timedelta(hours=24),
) -> list[Check]:
    """The standard readiness checks of a gateway process, built from its ``Settings``."""
    return [
        store_check(engine),
        broker_check(broker_ready),
        node_key_check(settings.node.key_file, settings.node.cert_file),
        trust_anchors_check(settings.trust.anchors),
        directory_check(directory_last_sync, directory_max_age, directory_size),
        disk_space_check(settings.store.blob_dir),
    ]
