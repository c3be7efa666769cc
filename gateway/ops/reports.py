"""Activity report per agency, the six-monthly report operators owe (SPEC §1).

For a period ``[start, end)`` and each agency: documents sent, documents received (one per
delivery addressed to it), statuses answered (status packets it sent), the median time from
a document's acceptance to the recipient's status 03, and its last activity (sending, or a
delivery to it being delivered or acknowledged) up to the end of the period. With
``inactive_days`` the report also lists the agencies without any activity in that many days
before the end of the period (accounts to suspend, SPEC §1).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.models import Delivery, Message, StatusHistory

STATUS_RECEIVED_ASSIGNED = 3
CSV_FIELDS = (
    "code",
    "name",
    "sent",
    "received",
    "statuses_answered",
    "median_hours_to_status_03",
    "last_activity",
    "inactive",
)


@dataclass(frozen=True)
class DirectoryEntry:
    """What the report needs from the directory about one agency."""

    code: str
    name: str = ""
    status: str = "active"


@dataclass
class AgencyActivity:
    """One agency's line of the report."""

    code: str
    name: str = ""
    status: str = "active"
    sent: int = 0
    received: int = 0
    statuses_answered: int = 0
    median_seconds_to_status_03: float | None = None
    last_activity: datetime | None = None
    inactive: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of this line."""
        median = self.median_seconds_to_status_03
        return {
            "code": self.code,
            "name": self.name,
            "status": self.status,
            "sent": self.sent,
            "received": self.received,
            "statuses_answered": self.statuses_answered,
            "median_seconds_to_status_03": median,
            "median_hours_to_status_03": None if median is None else round(median / 3600, 2),
            "last_activity": self.last_activity.isoformat() if self.last_activity else None,
            "inactive": self.inactive,
        }


@dataclass
class ActivityReport:
    """The report: one line per agency, and the inactive agencies when asked for."""

    start: datetime
    end: datetime
    agencies: list[AgencyActivity]
    inactive_days: int | None = None
    inactive: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of the report."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "inactive_days": self.inactive_days,
            "agencies": [a.as_dict() for a in self.agencies],
            "inactive": self.inactive,
        }

    def to_json(self) -> str:
        """Render the report as JSON (UTF-8 text, Vietnamese names kept as is)."""
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def to_csv(self) -> str:
        """Render the report as CSV, one row per agency (see :data:`CSV_FIELDS`)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for agency in self.agencies:
            writer.writerow(agency.as_dict())
        return out.getvalue()


async def _count_by(conn: AsyncConnection, query: Any) -> dict[str, int]:
    return {row[0]: int(row[1]) for row in (await conn.execute(query)).all()}


async def activity_report(
    conn: AsyncConnection,
    *,
    start: datetime,
    end: datetime,
    directory: Iterable[DirectoryEntry] = (),
    activity: Mapping[str, datetime] | None = None,
    inactive_days: int | None = None,
) -> ActivityReport:
    """Compute the activity of every agency seen in the store or listed by ``directory``.

    ``start`` and ``end`` are aware datetimes (``end`` excluded). Inactivity is measured back
    from ``end``; only agencies whose directory status is ``active`` are listed as inactive
    (dissolved or merged ones have nothing left to suspend). ``activity`` adds last-activity
    instants known elsewhere (the directory's ``last_activity_at``).
    """
    m, d, sh = Message.__table__, Delivery.__table__, StatusHistory.__table__
    in_period = and_(m.c.accepted_at >= start, m.c.accepted_at < end)

    sent = await _count_by(
        conn,
        select(m.c.sender, func.count())
        .where(in_period, m.c.kind == "document")
        .group_by(m.c.sender),
    )
    answered = await _count_by(
        conn,
        select(m.c.sender, func.count())
        .where(in_period, m.c.kind == "status")
        .group_by(m.c.sender),
    )
    received = await _count_by(
        conn,
        select(d.c.resolved_code, func.count())
        .select_from(d.join(m, m.c.id == d.c.message_id))
        .where(in_period, m.c.kind == "document")
        .group_by(d.c.resolved_code),
    )

    first_03 = (
        select(sh.c.recipient_code, m.c.accepted_at, func.min(sh.c.at).label("at"))
        .select_from(sh.join(m, m.c.id == sh.c.document_message_id))
        .where(in_period, sh.c.status_code == STATUS_RECEIVED_ASSIGNED)
        .group_by(sh.c.recipient_code, m.c.id, m.c.accepted_at)
    )
    waits: dict[str, list[float]] = {}
    for code, accepted_at, at in (await conn.execute(first_03)).all():
        waits.setdefault(code, []).append(max(0.0, (at - accepted_at).total_seconds()))

    last: dict[str, datetime] = {}

    def seen(code: str, at: datetime | None) -> None:
        if at is not None and (code not in last or at > last[code]):
            last[code] = at

    sent_last = (
        select(m.c.sender, func.max(m.c.accepted_at))
        .where(m.c.accepted_at < end)
        .group_by(m.c.sender)
    )
    for code, at in (await conn.execute(sent_last)).all():
        seen(code, at)
    for column in (d.c.delivered_at, d.c.acked_at):
        received_last = (
            select(d.c.resolved_code, func.max(column))
            .where(column.is_not(None), column < end)
            .group_by(d.c.resolved_code)
        )
        for code, at in (await conn.execute(received_last)).all():
            seen(code, at)

    for code, at in (activity or {}).items():
        if at < end:
            seen(code, at)

    known = {entry.code: entry for entry in directory}
    codes = sorted(set(known) | set(sent) | set(answered) | set(received) | set(waits))
    lines: list[AgencyActivity] = []
    inactive: list[str] = []
    threshold = end - timedelta(days=inactive_days) if inactive_days is not None else None
    for code in codes:
        entry = known.get(code)
        line = AgencyActivity(
            code=code,
            name=entry.name if entry else "",
            status=entry.status if entry else "unknown",
            sent=sent.get(code, 0),
            received=received.get(code, 0),
            statuses_answered=answered.get(code, 0),
            median_seconds_to_status_03=statistics.median(waits[code]) if code in waits else None,
            last_activity=last.get(code),
        )
        if threshold is not None and line.status in ("active", "unknown"):
            line.inactive = line.last_activity is None or line.last_activity < threshold
            if line.inactive:
                inactive.append(code)
        lines.append(line)
    return ActivityReport(start, end, lines, inactive_days, inactive)
