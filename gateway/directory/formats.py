"""Directory import and export: CSV, JSON, the national axis's agency-list shape, and diffs.

Formats:

- ``csv``: UTF-8, a header row with the export fields (``RECORD_FIELDS``); lists separated
  by ``;``.
- ``json``: a list of export-shape objects, or ``{"agencies": [...]}``.
- ``axis``: what the axis's ``getAgenciesList`` returns: objects with ``code``, ``oldCode``
  or ``code102``, ``name``, ``pid`` (parent) and ``mail``, as a list or under ``data``.
  Only those fields are taken from the axis; local ones (endpoint, systems, certificates)
  are kept.

An import is a diff against the current agencies (:func:`diff`): added, changed and, for a
full catalogue, retired (present here, absent there: marked dissolved).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gateway.directory.resolver import (
    RECORD_FIELDS,
    Agency,
    agency_from_record,
    agency_to_record,
    normalize_code,
)
from gateway.directory.store import Change

FORMATS = ("csv", "json", "axis")
ALL_FIELDS = frozenset(
    (
        "old_code",
        "name",
        "parent_code",
        "level",
        "status",
        "effective_at",
        "successors",
        "endpoint",
        "systems",
        "certificates",
        "mail",
        "accepts_from",
    )
)
AXIS_FIELDS = frozenset(("old_code", "name", "parent_code", "mail"))
_CSV_FIELD_MAP = {
    "endpoint_kind": "endpoint",
    "endpoint_url": "endpoint",
    "endpoint_node": "endpoint",
}


class ImportFormatError(ValueError):
    """Raised when an import file cannot be read in the announced format."""


@dataclass(frozen=True)
class Parsed:
    """Agencies read from a source and the fields the source actually provides."""

    agencies: list[Agency]
    fields: frozenset[str]


def guess_format(name: str, data: bytes) -> str:
    """Return ``csv``, ``json`` or ``axis`` from a file name and its first bytes."""
    lower = name.lower()
    head = data.lstrip()[:1]
    if lower.endswith(".csv") or head not in (b"[", b"{"):
        return "csv"
    sample = data[:4096].decode("utf-8", "replace")
    return (
        "axis" if ('"oldCode"' in sample or '"code102"' in sample or '"pid"' in sample) else "json"
    )


def parse(data: bytes | str, fmt: str) -> Parsed:
    """Read agencies from ``data`` in format ``fmt`` (csv, json, axis)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    try:
        if fmt == "csv":
            reader = csv.DictReader(io.StringIO(text))
            header = set(reader.fieldnames or ())
            if "code" not in header or "name" not in header:
                raise ImportFormatError("CSV needs at least the columns code and name")
            fields = {_CSV_FIELD_MAP.get(h, h) for h in header} & ALL_FIELDS
            return Parsed(_records(reader), frozenset(fields))
        if fmt not in ("json", "axis"):
            raise ImportFormatError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        document = json.loads(text)
    except (json.JSONDecodeError, csv.Error, UnicodeDecodeError) as exc:
        raise ImportFormatError(f"cannot read the {fmt} data: {exc}") from exc
    items = _json_items(document)
    if fmt == "axis":
        return Parsed(_records(axis_record(item) for item in items), AXIS_FIELDS)
    fields: set[str] = set()
    for item in items:
        fields.update(_CSV_FIELD_MAP.get(k, k) for k in item)
    return Parsed(_records(items), frozenset(fields & ALL_FIELDS))


def _json_items(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, Mapping):
        for key in ("agencies", "data", "items"):
            if isinstance(document.get(key), list):
                document = document[key]
                break
    if not isinstance(document, list) or not all(isinstance(i, Mapping) for i in document):
        raise ImportFormatError("JSON must be a list of agency objects")
    return document


def _records(records: Iterable[Mapping[str, Any]]) -> list[Agency]:
    agencies: list[Agency] = []
    seen: set[str] = set()
    for number, record in enumerate(records, start=1):
        try:
            agency = agency_from_record(record)
        except ValueError as exc:
            raise ImportFormatError(f"record {number}: {exc}") from exc
        if agency.code in seen:
            raise ImportFormatError(f"record {number}: duplicate code {agency.code}")
        seen.add(agency.code)
        agencies.append(agency)
    return agencies


def axis_record(item: Mapping[str, Any]) -> dict[str, Any]:
    """Translate one agency object of the axis's list into the export shape."""
    return {
        "code": item.get("code") or item.get("organId") or "",
        "old_code": item.get("oldCode") or item.get("code102") or None,
        "name": item.get("name") or item.get("organName") or "",
        "parent_code": item.get("pid") or item.get("parentCode") or None,
        "mail": item.get("mail") or item.get("email") or None,
    }


def to_csv(agencies: Iterable[Agency]) -> str:
    """Write agencies as CSV in the export shape (lists joined by ``;``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RECORD_FIELDS, lineterminator="\n")
    writer.writeheader()
    for agency in agencies:
        record = agency_to_record(agency)
        for key in ("successors", "systems", "certificates", "accepts_from"):
            record[key] = ";".join(record[key])
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return out.getvalue()


def to_json(agencies: Iterable[Agency]) -> str:
    """Write agencies as a JSON list in the export shape (UTF-8, not ASCII-escaped)."""
    return json.dumps([agency_to_record(a) for a in agencies], ensure_ascii=False, indent=1)


@dataclass
class Diff:
    """What an import would do: agencies added, changed (before, after), retired."""

    added: list[Agency] = field(default_factory=list)
    changed: list[tuple[Agency, Agency]] = field(default_factory=list)
    retired: list[tuple[Agency, Agency]] = field(default_factory=list)
    unchanged: int = 0

    def changes(self) -> list[Change]:
        """Return the change set to apply with ``gateway.directory.store.apply_changes``."""
        return (
            [Change("add", None, a) for a in self.added]
            + [Change("change", b, a) for b, a in self.changed]
            + [Change("retire", b, a) for b, a in self.retired]
        )

    def summary(self) -> dict[str, Any]:
        """Return the counts and the codes involved (JSON-ready)."""
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "retired": len(self.retired),
            "unchanged": self.unchanged,
            "added_codes": [a.code for a in self.added[:100]],
            "changed_codes": [a.code for _, a in self.changed[:100]],
            "retired_codes": [a.code for _, a in self.retired[:100]],
        }

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.retired)


def diff(
    current: Mapping[str, Agency],
    incoming: Parsed,
    *,
    retire_missing: bool,
    at: datetime,
    defaults: Mapping[str, Any] | None = None,
) -> Diff:
    """Compare ``incoming`` with ``current`` (keyed by code).

    Only the fields the source provides are compared and taken over; an existing agency
    keeps the others. ``defaults`` (Agency field values, e.g. an ``endpoint``) apply to
    added agencies for the fields the source does not provide. With ``retire_missing``,
    live agencies absent from the source are retired: status ``dissolved`` from ``at``.
    """
    result = Diff()
    provided = incoming.fields
    taken = [f for f in ALL_FIELDS if f in provided]
    extra = {k: v for k, v in (defaults or {}).items() if k not in provided}
    for agency in incoming.agencies:
        before = current.get(agency.code)
        if before is None:
            result.added.append(replace(agency, **extra) if extra else agency)
            continue
        after = replace(before, **{f: getattr(agency, f) for f in taken})
        if after == before:
            result.unchanged += 1
        else:
            result.changed.append((before, after))
    if retire_missing:
        seen = {a.code for a in incoming.agencies}
        for code, before in current.items():
            if code not in seen and before.status in ("active", "suspended"):
                result.retired.append(
                    (before, replace(before, status="dissolved", effective_at=at))
                )
    return result


def codes_of(items: Sequence[str]) -> list[str]:
    """Normalise a list of codes given on a command line or in a request."""
    return [normalize_code(c) for c in items if c.strip()]
