"""Certificate expiry watch: the node's certificate and the trust anchors.

Each configured certificate is exported as ``edoc_gateway_certificate_expiry_seconds``
(label ``certificate``: ``node`` or ``anchor:<file stem>``, bounded by the configuration),
and logged as a warning from :data:`WARN_BEFORE` ahead of its end of validity, as an error
once expired. :func:`watch_context` re-checks periodically inside the running application.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from gateway.logging import get_logger
from gateway.ops.metrics import CERT_EXPIRY_SECONDS

WARN_BEFORE = timedelta(days=60)
CHECK_INTERVAL_S = 6 * 3600.0


@dataclass(frozen=True)
class CertStatus:
    """Expiry of one certificate (the earliest-expiring one when a file holds several)."""

    name: str
    path: Path
    subject: str
    not_after: datetime | None
    seconds_left: float | None
    error: str | None = None

    @property
    def expired(self) -> bool:
        """True when the certificate's validity has ended (or it could not be read)."""
        return self.seconds_left is None or self.seconds_left <= 0

    @property
    def expiring(self) -> bool:
        """True when the certificate ends within :data:`WARN_BEFORE` (or has ended)."""
        return self.seconds_left is None or self.seconds_left <= WARN_BEFORE.total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of this status."""
        return {
            "name": self.name,
            "path": str(self.path),
            "subject": self.subject,
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "seconds_left": self.seconds_left,
            "error": self.error,
        }


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Read every certificate of a PEM file (several allowed) or a single DER file."""
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return list(x509.load_pem_x509_certificates(data))
    return [x509.load_der_x509_certificate(data)]


def certificate_names(node_cert: Path | None, anchors: tuple[Path, ...] = ()) -> dict[str, Path]:
    """Name the certificates to watch: ``node`` and ``anchor:<file stem>`` per anchor file."""
    names: dict[str, Path] = {}
    if node_cert is not None:
        names["node"] = Path(node_cert)
    for anchor in anchors:
        stem = Path(anchor).name.split(".")[0] or Path(anchor).name
        name = f"anchor:{stem}"
        suffix = 2
        while name in names:
            name = f"anchor:{stem}-{suffix}"
            suffix += 1
        names[name] = Path(anchor)
    return names


def inspect_certificate(name: str, path: Path, *, now: datetime | None = None) -> CertStatus:
    """Return the expiry status of the certificate file ``path`` (never raises)."""
    now = now or datetime.now(UTC)
    try:
        certs = load_certificates(path)
    except (OSError, ValueError) as exc:
        return CertStatus(name, path, "", None, None, error=f"{type(exc).__name__}: {exc}")
    if not certs:
        return CertStatus(name, path, "", None, None, error="no certificate in file")
    first = min(certs, key=lambda c: c.not_valid_after_utc)
    not_after = first.not_valid_after_utc
    return CertStatus(
        name=name,
        path=path,
        subject=first.subject.rfc4514_string(),
        not_after=not_after,
        seconds_left=(not_after - now).total_seconds(),
    )


def check_certificates(
    named: Mapping[str, Path], *, now: datetime | None = None, log: Any = None
) -> list[CertStatus]:
    """Inspect each certificate, export its expiry metric and log the ones ending soon.

    A certificate ending within 60 days is logged at warning level (``certificate.expiring``),
    an expired or unreadable one at error level (``certificate.expired`` /
    ``certificate.unreadable``).
    """
    log = log or get_logger("gateway.ops.certs")
    statuses: list[CertStatus] = []
    for name, path in named.items():
        status = inspect_certificate(name, path, now=now)
        statuses.append(status)
        fields = {"certificate": name, "path": str(path)}
        if status.error is not None:
            log.error("certificate.unreadable", error=status.error, **fields)
            continue
        assert status.seconds_left is not None and status.not_after is not None
        CERT_EXPIRY_SECONDS.labels(certificate=name).set(status.seconds_left)
        days_left = round(status.seconds_left / 86400, 1)
        about = {"subject": status.subject, "not_after": status.not_after.isoformat()}
        if status.expired:
            log.error("certificate.expired", days_left=days_left, **about, **fields)
        elif status.expiring:
            log.warning("certificate.expiring", days_left=days_left, **about, **fields)
    return statuses


def watch_context(
    named: Mapping[str, Path], *, interval_s: float = CHECK_INTERVAL_S
) -> Callable[[Any], AsyncIterator[None]]:
    """Return an aiohttp cleanup context that checks the certificates now and every interval."""

    async def loop() -> None:
        while True:
            await asyncio.to_thread(check_certificates, named)
            await asyncio.sleep(interval_s)

    async def context(_app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(loop(), name="certificate-watch")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    return context
