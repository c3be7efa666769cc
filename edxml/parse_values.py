"""Reading wire text into values: NFC text, integers, and the date spellings producers use.

The wire is not consistent: dates come as ``yyyy/MM/dd``, ``dd/MM/yyyy`` or ISO, some
producers put a timestamp where a date belongs, and timestamps without an offset are
Vietnamese local time. Each converter raises ``ValueError`` on text it cannot read; the tree
reader (:mod:`edxml.parse_node`) turns that into ``FieldInvalid`` with the element's path.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, timedelta, timezone

from lxml import etree

VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")

_DATE_FORMATS = ("%Y/%m/%d", "%d/%m/%Y", "%Y-%m-%d")
_DATETIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
)


def text_of(el: etree._Element) -> str:
    """Return the element's text, stripped and NFC-normalised (``""`` when it has none)."""
    raw = el.text
    if raw is None:
        return ""
    value: str = raw.strip()
    if value.isascii() or unicodedata.is_normalized("NFC", value):
        return value
    return unicodedata.normalize("NFC", value)


def to_int(text: str) -> int:
    """Read a decimal integer (an optional sign, digits only)."""
    if not text.strip().lstrip("+-").isdigit():
        raise ValueError(text)
    return int(text)


def to_date(text: str) -> date:
    """Read a date in any of the spellings seen on the wire (or the date of a timestamp)."""
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    # Some producers put a timestamp where a date belongs.
    return to_datetime(text).date()


def to_datetime(text: str) -> datetime:
    """Read a timestamp; one without an offset is Vietnamese local time (UTC+7)."""
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=VIETNAM_TZ)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = datetime.strptime(text, "%Y/%m/%d")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VIETNAM_TZ)
