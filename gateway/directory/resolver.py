"""The agency directory: who a code is, whether it is alive, and where its documents go.

Every routing decision asks :meth:`Directory.resolve`. Lookups are plain dictionary reads
(new code and old QCVN 102 code both index the same :class:`Agency`), so resolving takes
microseconds and never touches the database. :class:`InMemoryDirectory` holds the data;
``gateway.directory.live.SqlDirectory`` fills one from the store and keeps it current.

Lifecycle: ``merged`` (a merge or a code change) resolves to its successor and
:attr:`Resolution.via` lists the retired codes followed; ``dissolved`` (also a split, which
has several successors) is refused with :class:`~gateway.errors.AgencyDissolved` naming the
successors; ``suspended`` is refused with :class:`~gateway.errors.AgencyInactive`. A status
with an ``effective_at`` in the future has not happened yet: the agency is still active.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.errors import AgencyDissolved, AgencyInactive, CodeUnknown

STATUSES = ("active", "suspended", "dissolved", "merged")
ENDPOINT_KINDS = ("mailbox", "push", "peer")
MAX_CHAIN = 16  # successor hops followed before a chain is declared broken


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where an agency's documents go: a local ``mailbox`` (pull), a ``push`` URL, or a
    ``peer`` node (another gateway or the national axis, named by ``node``)."""

    kind: str = "mailbox"
    url: str | None = None
    node: str | None = None


MAILBOX = Endpoint("mailbox")


@dataclass(frozen=True, slots=True)
class Agency:
    """One agency of the catalogue, immutable; a change replaces the whole record.

    ``successors`` are the codes that took over (merge, rename: one; split: several);
    ``systems`` the calling system ids bound to it; ``certificates`` the SHA-256
    fingerprints (lower-case hex) of its signers' certificates; ``effective_at`` when the
    current ``status`` takes (or took) effect; ``accepts_from`` the identifier-code prefixes
    of the senders it receives from (empty: from every sender; see ``gateway.core.access``).
    """

    code: str
    name: str
    old_code: str | None = None
    parent_code: str | None = None
    status: str = "active"
    successors: tuple[str, ...] = ()
    endpoint: Endpoint = MAILBOX
    systems: tuple[str, ...] = ()
    certificates: tuple[str, ...] = ()
    level: int | None = None
    effective_at: datetime | None = None
    mail: str | None = None
    accepts_from: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer of :meth:`Directory.resolve`: the live ``agency`` for ``requested``.

    ``via`` is empty when ``requested`` names the live agency itself (by new or old code);
    otherwise it lists the codes of the retired agencies followed, starting with the one
    ``requested`` named, ending just before ``agency.code``.
    """

    agency: Agency
    requested: str
    via: tuple[str, ...] = ()

    @property
    def redirected(self) -> bool:
        """True when the requested code was merged or renamed into another agency."""
        return bool(self.via)


def normalize_code(code: str) -> str:
    """Return ``code`` as stored: surrounding blanks removed, letters upper-case."""
    return code.strip().upper()


class InMemoryDirectory:
    """A :class:`Directory` over agencies held in dictionaries keyed by new and old code.

    ``clock`` returns the current aware time (tests pass a fixed one). Mutators
    (:meth:`put`, :meth:`remove`) are used by loaders; they do not write anywhere.
    """

    def __init__(
        self,
        agencies: Iterable[Agency] = (),
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._by_code: dict[str, Agency] = {}
        self._by_old: dict[str, str] = {}
        self._by_system: dict[str, set[str]] = {}
        self._activity: dict[str, datetime] = {}
        self.put_many(agencies)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> InMemoryDirectory:
        """Build a directory from dicts in the export shape (see :func:`agency_from_record`)."""
        return cls([agency_from_record(r) for r in records])

    @classmethod
    def from_csv(cls, path: str | Path) -> InMemoryDirectory:
        """Build a directory from a CSV file in the export shape (UTF-8, header row)."""
        with Path(path).open(encoding="utf-8-sig", newline="") as fh:
            return cls.from_records(csv.DictReader(fh))

    def put(self, agency: Agency) -> None:
        """Add or replace one agency, keeping the old-code and system indexes right."""
        previous = self._by_code.get(agency.code)
        if previous is not None:
            self._unindex(previous)
        self._by_code[agency.code] = agency
        if agency.old_code and agency.old_code != agency.code:
            self._by_old[agency.old_code] = agency.code
        for system in agency.systems:
            self._by_system.setdefault(system, set()).add(agency.code)

    def put_many(self, agencies: Iterable[Agency]) -> None:
        """Add or replace several agencies."""
        for agency in agencies:
            self.put(agency)

    def remove(self, code: str) -> None:
        """Forget an agency entirely (normally agencies are retired, not removed)."""
        previous = self._by_code.pop(code, None)
        if previous is not None:
            self._unindex(previous)

    def _unindex(self, agency: Agency) -> None:
        if agency.old_code and self._by_old.get(agency.old_code) == agency.code:
            del self._by_old[agency.old_code]
        for system in agency.systems:
            codes = self._by_system.get(system)
            if codes is not None:
                codes.discard(agency.code)
                if not codes:
                    del self._by_system[system]

    # -- queries ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Agency]:
        return iter(list(self._by_code.values()))

    def get(self, code: str) -> Agency | None:
        """Return the agency recorded under a new or old code, whatever its status."""
        agency = self._by_code.get(code)
        if agency is None:
            new = self._by_old.get(code)
            if new is None:
                code = normalize_code(code)
                agency = self._by_code.get(code)
                new = None if agency is not None else self._by_old.get(code)
            if new is not None:
                agency = self._by_code.get(new)
        return agency

    def resolve(self, code: str) -> Resolution:
        """Return the live agency for ``code`` (new or old form), following successors.

        Raises :class:`CodeUnknown` when no agency has this code, :class:`AgencyInactive`
        when the live agency is suspended, :class:`AgencyDissolved` when the chain ends in
        a dissolved agency (the detail names its successors, if any).
        """
        agency = self.get(code)
        if agency is None:
            raise CodeUnknown(code, path=code)
        if agency.status == "active":
            return Resolution(agency, code)
        via: list[str] = []
        now: datetime | None = None
        while True:
            status = agency.status
            if status != "active" and agency.effective_at is not None:
                now = now or self.clock()
                if agency.effective_at > now:
                    status = "active"
            if status == "active":
                return Resolution(agency, code, tuple(via))
            if status == "suspended":
                raise AgencyInactive(agency.code, path=code)
            if status == "merged" and len(agency.successors) == 1:
                via.append(agency.code)
                successor = self._by_code.get(agency.successors[0])
                if successor is None or len(via) > MAX_CHAIN or successor.code in via:
                    raise _dissolved(agency, code)
                agency = successor
                continue
            raise _dissolved(agency, code)

    def agencies_for_system(self, system_id: str) -> frozenset[str]:
        """Return the codes of the agencies the calling system is bound to."""
        return frozenset(self._by_system.get(system_id, ()))

    def record_activity(self, code: str, at: datetime) -> None:
        """Note that the agency sent or received a document at ``at`` (latest wins)."""
        agency = self.get(code)
        key = agency.code if agency is not None else code
        last = self._activity.get(key)
        if last is None or at > last:
            self._activity[key] = at

    def last_activity(self, code: str) -> datetime | None:
        """Return the last send/receive instant recorded for ``code`` in this process."""
        return self._activity.get(code)

    def children(self, code: str) -> list[Agency]:
        """Return the agencies whose parent is ``code``, sorted by code."""
        return sorted(
            (a for a in self._by_code.values() if a.parent_code == code), key=lambda a: a.code
        )

    def search(self, text: str, *, limit: int = 50) -> list[Agency]:
        """Return agencies whose code, old code or name contains ``text`` (case-folded)."""
        needle = text.casefold()
        found: list[Agency] = []
        for agency in self._by_code.values():
            if (
                needle in agency.code.casefold()
                or needle in agency.name.casefold()
                or (agency.old_code and needle in agency.old_code.casefold())
            ):
                found.append(agency)
                if len(found) >= limit:
                    break
        return found


def _dissolved(agency: Agency, requested: str) -> AgencyDissolved:
    successors = ", ".join(agency.successors)
    detail = f"{agency.code} → {successors}" if successors else agency.code
    error = AgencyDissolved(detail, path=requested)
    error.successors = agency.successors  # type: ignore[attr-defined]
    return error


# -- record form (CSV / JSON export shape) ------------------------------------------------

# Shared instances: a catalogue repeats few statuses and parents; one string each saves memory.
_STATUSES = {s: s for s in STATUSES}
_PARENTS: dict[str, str] = {}

RECORD_FIELDS = (
    "code",
    "old_code",
    "name",
    "parent_code",
    "level",
    "status",
    "effective_at",
    "successors",
    "endpoint_kind",
    "endpoint_url",
    "endpoint_node",
    "systems",
    "certificates",
    "mail",
    "accepts_from",
)


def _split(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.replace(";", " ").split() if v.strip())
    return tuple(str(v).strip() for v in value if str(v).strip())


def _opt(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_datetime(value: Any) -> datetime | None:
    """Parse an ISO 8601 date or date-time; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def agency_from_record(record: Mapping[str, Any]) -> Agency:
    """Build an :class:`Agency` from a flat dict (CSV row or JSON object, export shape).

    Lists (``successors``, ``systems``, ``certificates``, ``accepts_from``) may be JSON lists
    or strings separated by ``;`` or blanks. Raises ``ValueError`` for a missing code or name, an
    unknown status or endpoint kind.
    """
    code = normalize_code(str(record.get("code") or ""))
    name = str(record.get("name") or "").strip()
    if not code or not name:
        raise ValueError(f"agency record needs code and name: {dict(record)!r}")
    status = str(record.get("status") or "active").strip().lower()
    status = _STATUSES.get(status, "")
    if not status:
        raise ValueError(f"{code}: unknown status {record.get('status')!r}")
    kind = str(record.get("endpoint_kind") or "mailbox").strip().lower()
    if kind not in ENDPOINT_KINDS:
        raise ValueError(f"{code}: unknown endpoint kind {kind!r}")
    url = _opt(record.get("endpoint_url")) if record.get("endpoint_url") else None
    node = _opt(record.get("endpoint_node")) if record.get("endpoint_node") else None
    endpoint = (
        MAILBOX if kind == "mailbox" and url is None and node is None else Endpoint(kind, url, node)
    )
    old = record.get("old_code")
    old = normalize_code(old) if old and old.strip() else None
    parent = record.get("parent_code")
    parent = (
        _PARENTS.setdefault(p := normalize_code(parent), p) if parent and parent.strip() else None
    )
    level = record.get("level")
    successors = record.get("successors")
    systems = record.get("systems")
    certificates = record.get("certificates")
    effective = record.get("effective_at")
    accepts = record.get("accepts_from")
    return Agency(
        code,
        name,
        old,
        parent,
        status,
        tuple(normalize_code(s) for s in _split(successors)) if successors else (),
        endpoint,
        _split(systems) if systems else (),
        tuple(c.lower() for c in _split(certificates)) if certificates else (),
        int(level) if level is not None and str(level).strip() else None,
        parse_datetime(effective) if effective else None,
        _opt(record.get("mail")),
        tuple(normalize_code(p) for p in _split(accepts)) if accepts else (),
    )


def agency_to_record(agency: Agency) -> dict[str, Any]:
    """Return the flat dict (export shape, JSON-ready) of an :class:`Agency`."""
    return {
        "code": agency.code,
        "old_code": agency.old_code,
        "name": agency.name,
        "parent_code": agency.parent_code,
        "level": agency.level,
        "status": agency.status,
        "effective_at": agency.effective_at.isoformat() if agency.effective_at else None,
        "successors": list(agency.successors),
        "endpoint_kind": agency.endpoint.kind,
        "endpoint_url": agency.endpoint.url,
        "endpoint_node": agency.endpoint.node,
        "systems": list(agency.systems),
        "certificates": list(agency.certificates),
        "mail": agency.mail,
        "accepts_from": list(agency.accepts_from),
    }
