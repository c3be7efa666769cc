"""Alerts an operator sees on the console's overview, and their acknowledgements.

An alert is a condition read from the node's state at the moment (a failing readiness
check, parked deliveries, a certificate ending within 60 days, a stale directory); it
lasts as long as the condition. An operator acknowledges an alert ("seen, someone is on
it"): the acknowledgement is one audit record (``alert.acknowledged``, the alert's key in
``detail``), so who took it and when is in the tamper-evident chain, and it holds for
:data:`ACK_FOR` — a condition still there after that alerts again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import chain as audit
from gateway.audit import query as audit_query
from gateway.ops.certs import CertStatus
from gateway.ops.health import Readiness

ACK_FOR = timedelta(hours=24)
EVENT = "alert.acknowledged"
DIRECTORY_STALE = timedelta(hours=24)


@dataclass(frozen=True)
class Alert:
    """One alert: a stable key, a severity, the words, and who acknowledged it."""

    key: str
    severity: str  # "critical" | "warning"
    text_vi: str
    text_en: str
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


def current_alerts(
    readiness: Readiness,
    *,
    parked: int,
    certificates: Iterable[CertStatus],
    directory_checked_at: datetime | None,
    now: datetime,
) -> list[Alert]:
    """The alerts the node's state raises now, most severe first."""
    found: list[Alert] = []
    for check in readiness.checks:
        if not check.ok:
            found.append(
                Alert(
                    f"check:{check.name}",
                    "critical",
                    f"Kiểm tra '{check.name}' không đạt: {check.detail}",
                    f"Check '{check.name}' failing: {check.detail}",
                )
            )
    if parked:
        found.append(
            Alert(
                "parked",
                "critical",
                f"{parked} lượt chuyển phát lỗi đang chờ gửi lại",
                f"{parked} parked deliveries wait for a replay",
            )
        )
    for cert in certificates:
        if cert.expiring:
            days = "?" if cert.seconds_left is None else f"{cert.seconds_left / 86400:.0f}"
            found.append(
                Alert(
                    f"cert:{cert.name}",
                    "critical" if cert.expired else "warning",
                    f"Chứng thư số '{cert.name}' hết hạn sau {days} ngày",
                    f"Certificate '{cert.name}' ends in {days} days",
                )
            )
    if directory_checked_at is None or now - directory_checked_at > DIRECTORY_STALE:
        found.append(
            Alert(
                "directory",
                "warning",
                "Danh bạ đơn vị chưa được đồng bộ trong 24 giờ qua",
                "The agency directory has not been synchronised for 24 hours",
            )
        )
    return sorted(found, key=lambda a: a.severity != "critical")


async def acknowledge(conn: AsyncConnection, key: str, *, actor: str, note: str = "") -> None:
    """Record that ``actor`` acknowledged the alert ``key`` (one audit record)."""
    await audit.append(
        conn, event=EVENT, actor=actor, detail={"via": "console", "alert": key, "note": note}
    )


async def acknowledgements(conn: AsyncConnection, *, now: datetime) -> Mapping[str, audit.Entry]:
    """The latest acknowledgement of each alert key within :data:`ACK_FOR` of ``now``."""
    latest: dict[str, audit.Entry] = {}
    for entry in await audit_query.search(conn, since=now - ACK_FOR, event=EVENT, limit=500):
        key = str((entry.detail or {}).get("alert", ""))
        if key and key not in latest:  # newest first
            latest[key] = entry
    return latest


def with_acknowledgements(alerts: Sequence[Alert], acks: Mapping[str, audit.Entry]) -> list[Alert]:
    """The alerts, each with who acknowledged it and when (if anyone did)."""
    return [
        replace(a, acknowledged_by=acks[a.key].actor, acknowledged_at=acks[a.key].at)
        if a.key in acks
        else a
        for a in alerts
    ]
