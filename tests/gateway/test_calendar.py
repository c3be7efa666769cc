"""Tests of gateway.core.calendar: legal receipt time against config/calendar.toml."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gateway.core.calendar import VIETNAM, OfficeCalendar, calendar_from_dict, load_calendar

CALENDAR = Path(__file__).resolve().parents[2] / "config" / "calendar.toml"


@pytest.fixture(scope="module")
def cal() -> OfficeCalendar:
    return load_calendar(CALENDAR)


def vn(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VIETNAM)


@pytest.mark.parametrize(
    ("arrived", "legal"),
    [
        ("2026-03-04T10:15", "2026-03-04T10:15"),  # Wednesday, office hours
        ("2026-03-04T07:59", "2026-03-04T08:00"),  # before opening
        ("2026-03-04T17:00", "2026-03-05T08:00"),  # closing time is outside
        ("2026-03-06T18:30", "2026-03-09T08:00"),  # Friday evening -> Monday
        ("2026-03-07T11:00", "2026-03-09T08:00"),  # Saturday
        ("2026-02-13T16:59", "2026-02-13T16:59"),  # last minute before Tết
        ("2026-02-13T17:30", "2026-02-23T08:00"),  # Tết Bính Ngọ
        ("2026-04-29T20:00", "2026-05-04T08:00"),  # 30/4 and 1/5
        ("2026-08-31T09:00", "2026-08-31T09:00"),
        ("2026-08-31T17:05", "2026-09-03T08:00"),  # Quốc khánh 1–2/9
        ("2026-12-31T18:00", "2027-01-04T08:00"),  # New Year (Friday) then weekend
        ("2027-02-03T17:00", "2027-02-11T08:00"),  # Tết Đinh Mùi
    ],
)
def test_legal_receipt_time(cal: OfficeCalendar, arrived: str, legal: str) -> None:
    assert cal.legal_receipt_time(vn(arrived)) == vn(legal)


def test_utc_input_is_converted(cal: OfficeCalendar) -> None:
    # 02:00 UTC = 09:00 in Hà Nội on a Wednesday: inside office hours.
    at = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
    assert cal.legal_receipt_time(at) == at
    assert cal.is_office_time(at)


def test_naive_time_is_refused(cal: OfficeCalendar) -> None:
    with pytest.raises(ValueError):
        cal.legal_receipt_time(datetime(2026, 3, 4, 9, 0))


def test_holidays_of_both_years_present(cal: OfficeCalendar) -> None:
    for day in (
        "2026-01-01",
        "2026-04-30",
        "2026-05-01",
        "2026-09-02",
        "2027-01-01",
        "2027-04-16",
        "2027-04-30",
        "2027-09-02",
    ):
        assert not cal.is_working_day(date.fromisoformat(day)), day
    assert sum(1 for d in cal.holidays if d.year == 2026 and d.month == 2) >= 5


def test_lunch_break_and_makeup_day() -> None:
    cal = calendar_from_dict(
        {
            "office": {"periods": [["08:00", "12:00"], ["13:30", "17:00"]]},
            "years": {"2026": {"working_days": ["2026-03-07"]}},
        }
    )
    assert cal.legal_receipt_time(vn("2026-03-04T12:10")) == vn("2026-03-04T13:30")
    assert cal.legal_receipt_time(vn("2026-03-07T09:00")) == vn("2026-03-07T09:00")
