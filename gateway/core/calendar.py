"""Office calendar and the legal receipt time (SPEC §1, QĐ 28/2018 art. 11).

A document received outside office hours counts as received at the start of the next
office period. The calendar holds the working weekdays, one or more daily office periods,
public holidays, and make-up working days (a Saturday worked to bridge a holiday), all in
Vietnam time (UTC+7).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

VIETNAM = timezone(timedelta(hours=7), "ICT")
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_MAX_SCAN_DAYS = 400


@dataclass(frozen=True)
class OfficeCalendar:
    """Working days, office periods and holidays; computes legal receipt times."""

    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    periods: tuple[tuple[time, time], ...] = ((time(8, 0), time(17, 0)),)
    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()  # make-up days that override the weekday rule
    tz: timezone = VIETNAM

    def is_working_day(self, day: date) -> bool:
        """Return whether ``day`` is an office day (make-up days count, holidays do not)."""
        if day in self.working_days:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def is_office_time(self, at: datetime) -> bool:
        """Return whether the instant ``at`` lies inside an office period."""
        local = _aware(at).astimezone(self.tz)
        if not self.is_working_day(local.date()):
            return False
        now = local.timetz().replace(tzinfo=None)
        return any(start <= now < end for start, end in self.periods)

    def legal_receipt_time(self, at: datetime) -> datetime:
        """Return the legal receipt time of an arrival at ``at`` (in the calendar's zone).

        Inside office hours it is ``at`` itself; otherwise the start of the next office
        period.
        """
        local = _aware(at).astimezone(self.tz)
        day = local.date()
        clock = local.timetz().replace(tzinfo=None)
        for offset in range(_MAX_SCAN_DAYS):
            current = day + timedelta(days=offset)
            if not self.is_working_day(current):
                continue
            for start, end in self.periods:
                if offset == 0 and clock >= end:
                    continue
                if offset == 0 and start <= clock < end:
                    return local
                return datetime.combine(current, start, tzinfo=self.tz)
        raise ValueError("office calendar has no working day within a year")


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("naive datetime: pass an aware instant")
    return at


def _parse_time(text: str) -> time:
    return time.fromisoformat(text)


def calendar_from_dict(data: dict[str, Any]) -> OfficeCalendar:
    """Build a calendar from the mapping form of ``config/calendar.toml``."""
    office = data.get("office", {})
    weekdays = frozenset(_WEEKDAYS[d.lower()[:3]] for d in office.get("weekdays", []))
    periods = tuple((_parse_time(p[0]), _parse_time(p[1])) for p in office.get("periods", [])) or (
        (time(8, 0), time(17, 0)),
    )
    for start, end in periods:
        if not start < end:
            raise ValueError(f"office period {start}-{end} ends before it starts")
    holidays: set[date] = set()
    working: set[date] = set()
    for year in data.get("years", {}).values():
        for entry in year.get("holidays", []):
            first = date.fromisoformat(entry["from"] if "from" in entry else entry["date"])
            last = date.fromisoformat(entry.get("to", first.isoformat()))
            while first <= last:
                holidays.add(first)
                first += timedelta(days=1)
        working.update(date.fromisoformat(d) for d in year.get("working_days", []))
    return OfficeCalendar(
        weekdays=weekdays or frozenset({0, 1, 2, 3, 4}),
        periods=tuple(sorted(periods)),
        holidays=frozenset(holidays),
        working_days=frozenset(working),
    )


def load_calendar(path: str | Path) -> OfficeCalendar:
    """Read an office calendar from a TOML file (see ``config/calendar.toml``)."""
    with Path(path).open("rb") as handle:
        return calendar_from_dict(tomllib.load(handle))
