"""Directory tables and their persistence: load agencies, apply a change set atomically.

Tables (on :class:`gateway.store.base.Base`): ``agencies``, ``agency_successors``,
``agency_systems``, ``agency_certificates``, ``directory_changes`` (one audit record per
agency change: who, when, before, after) and ``directory_version`` (one row). Every change
set bumps the version and stamps the changed agencies with it (``revision``), so a running
process reloads only what changed since the version it last saw.
"""

from __future__ import annotations

import functools
import operator
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

from gateway import directory_accepts
from gateway.directory import MAILBOX, Agency, Endpoint, agency_to_record
from gateway.store.base import Base

CHUNK = 5000  # rows per IN (...) list or executemany batch


class AgencyRow(Base):
    """One agency; never deleted (retired agencies keep their row and status)."""

    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    old_code: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(500))
    parent_code: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active")
    effective_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    endpoint_kind: Mapped[str] = mapped_column(String(16), default="mailbox")
    endpoint_url: Mapped[str | None] = mapped_column(String(2000))
    endpoint_node: Mapped[str | None] = mapped_column(String(200))
    mail: Mapped[str | None] = mapped_column(String(320))
    revision: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgencySuccessorRow(Base):
    """A successor of a merged, renamed, split or dissolved agency, in order."""

    __tablename__ = "agency_successors"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    successor_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    effective_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgencySystemRow(Base):
    """A calling system (QLVB) bound to an agency: it may send and receive for it."""

    __tablename__ = "agency_systems"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    system_id: Mapped[str] = mapped_column(String(100), primary_key=True)

    __table_args__ = (Index("ix_agency_systems_system", "system_id"),)


class AgencyCertificateRow(Base):
    """A signer certificate of an agency: SHA-256 fingerprint, PEM (if known), validity."""

    __tablename__ = "agency_certificates"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    pem: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(1000))
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DirectoryChangeRow(Base):
    """Audit record of one directory change: who, when, what, before and after."""

    __tablename__ = "directory_changes"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    version: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str | None] = mapped_column(String(1000))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DirectoryVersionRow(Base):
    """The directory's version (one row, id 1); bumped by every change set."""

    __tablename__ = "directory_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


TABLES = [
    m.__table__
    for m in (
        AgencyRow,
        AgencySuccessorRow,
        AgencySystemRow,
        AgencyCertificateRow,
        DirectoryChangeRow,
        DirectoryVersionRow,
    )
]
_A = AgencyRow.__table__
_S = AgencySuccessorRow.__table__
_Y = AgencySystemRow.__table__
_C = AgencyCertificateRow.__table__
_L = DirectoryChangeRow.__table__
_V = DirectoryVersionRow.__table__


@dataclass(frozen=True)
class Change:
    """One agency change: ``action`` (add, change, retire, rename, merge, split, dissolve,
    suspend, reactivate, set-endpoint, bind-system, ...), the record ``before`` (None when
    added) and ``after``."""

    action: str
    before: Agency | None
    after: Agency


def utc(at: datetime | None) -> datetime | None:
    """Return ``at`` as an aware UTC datetime (naive values from SQLite are UTC)."""
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- version ------------------------------------------------------------------------------


async def current_version(conn: AsyncConnection) -> int:
    """Return the directory version (0 before the first change)."""
    value = await conn.scalar(select(_V.c.version).where(_V.c.id == 1))
    return int(value or 0)


async def bump_version(conn: AsyncConnection, at: datetime) -> int:
    """Increment the version in the caller's transaction (locks the row) and return it."""
    new = await conn.scalar(
        update(_V)
        .where(_V.c.id == 1)
        .values(version=_V.c.version + 1, changed_at=at)
        .returning(_V.c.version)
    )
    if new is None:
        await conn.execute(insert(_V).values(id=1, version=1, changed_at=at))
        return 1
    return int(new)


# -- load ---------------------------------------------------------------------------------


_LOAD_COLUMNS = (
    _A.c.code,
    _A.c.name,
    _A.c.old_code,
    _A.c.parent_code,
    _A.c.status,
    _A.c.endpoint_kind,
    _A.c.endpoint_url,
    _A.c.endpoint_node,
    _A.c.level,
    _A.c.effective_at,
    _A.c.mail,
)


def _agency(
    row: Any,
    successors: dict[str, list[str]],
    systems: dict[str, list[str]],
    certs: dict[str, list[str]],
) -> Agency:
    code, name, old, parent, status, kind, url, node, level, effective, mail = row
    # Statuses and parents repeat across the catalogue: share one string each.
    status = sys.intern(status)
    parent = sys.intern(parent) if parent is not None else None
    endpoint = MAILBOX if kind == "mailbox" and not url and not node else Endpoint(kind, url, node)
    return Agency(
        code,
        name,
        old,
        parent,
        status,
        tuple(successors[code]) if code in successors else (),
        endpoint,
        tuple(systems[code]) if code in systems else (),
        tuple(certs[code]) if code in certs else (),
        level,
        utc(effective) if effective is not None else None,
        mail,
    )


async def load_agencies(
    conn: AsyncConnection, *, since: int | None = None, codes: Iterable[str] | None = None
) -> list[Agency]:
    """Load agencies: all, those changed after version ``since``, or those in ``codes``."""
    query = select(*_LOAD_COLUMNS)
    if since is not None:
        query = query.where(_A.c.revision > since)
    if codes is None and since is None:
        # The whole catalogue: children first (few rows), then the agencies streamed in
        # batches and turned into records at once, so rows never pile up in memory.
        successors, systems, certs = await _children(conn, None)
        agencies: list[Agency] = []
        result = await conn.stream(query.execution_options(yield_per=CHUNK))
        async for batch in result.partitions():
            agencies.extend(_agency(r, successors, systems, certs) for r in batch)
        return await directory_accepts.attach(conn, agencies)
    rows: list[Any] = []
    if codes is not None:
        for part in _chunks(list(codes)):
            rows.extend((await conn.execute(query.where(_A.c.code.in_(part)))).all())
    else:
        rows = list((await conn.execute(query)).all())
    if not rows:
        return []
    successors, systems, certs = await _children(conn, [r[0] for r in rows])
    loaded = [_agency(r, successors, systems, certs) for r in rows]
    return await directory_accepts.attach(conn, loaded)


async def _children(
    conn: AsyncConnection, selected: list[str] | None
) -> tuple[dict[str, list[str]], ...]:
    """Successors, systems and certificate fingerprints by code (all, or of ``selected``)."""

    async def one(table: Any, column: Any, order: Any) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        base = select(table.c.code, column).order_by(table.c.code, order)
        parts = [None] if selected is None else list(_chunks(selected))
        for part in parts:
            q = base if part is None else base.where(table.c.code.in_(part))
            for code, value in (await conn.execute(q)).all():
                found.setdefault(code, []).append(value)
        return found

    return (
        await one(_S, _S.c.successor_code, _S.c.position),
        await one(_Y, _Y.c.system_id, _Y.c.system_id),
        await one(_C, _C.c.fingerprint, _C.c.fingerprint),
    )


async def find_agency(conn: AsyncConnection, code: str) -> Agency | None:
    """Load one agency by new code, or else by old code."""
    found = await load_agencies(conn, codes=[code])
    if not found:
        new = await conn.scalar(select(_A.c.code).where(_A.c.old_code == code).limit(1))
        if new is not None:
            found = await load_agencies(conn, codes=[new])
    return found[0] if found else None


async def load_activity(conn: AsyncConnection) -> dict[str, datetime]:
    """Return the last send/receive instant of every agency that has one."""
    rows = await conn.execute(
        select(_A.c.code, _A.c.last_activity_at).where(_A.c.last_activity_at.is_not(None))
    )
    return {code: utc(at) for code, at in rows.all()}  # type: ignore[misc]


# -- write --------------------------------------------------------------------------------


def _row(agency: Agency, revision: int) -> dict[str, Any]:
    return {
        "b_code": agency.code,
        "old_code": agency.old_code,
        "name": agency.name,
        "parent_code": agency.parent_code,
        "level": agency.level,
        "status": agency.status,
        "effective_at": utc(agency.effective_at),
        "endpoint_kind": agency.endpoint.kind,
        "endpoint_url": agency.endpoint.url,
        "endpoint_node": agency.endpoint.node,
        "mail": agency.mail,
        "revision": revision,
    }


async def _insert_many(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows with the driver's executemany, converting values with the column types'
    own bind processors (as SQLAlchemy would) but without its per-row statement overhead,
    which dominates a 125,000-agency import."""
    if not rows:
        return
    dialect = conn.dialect
    names = list(rows[0])
    quote = dialect.identifier_preparer.quote
    if dialect.paramstyle == "qmark":
        marks = ", ".join("?" for _ in names)
    elif dialect.paramstyle == "numeric_dollar":
        marks = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    else:  # another driver: let SQLAlchemy do it
        for part in _chunks(rows):
            await conn.execute(insert(table), list(part))
        return
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES ({marks})"
    processors: list[Any] = []
    for name in names:
        column_type = table.c[name].type
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None and isinstance(column_type, DateTime):
            process = functools.lru_cache(maxsize=64)(process)
        processors.append(process)
    getter = operator.itemgetter(*names)
    converted = [(i, f) for i, f in enumerate(processors) if f is not None]
    params: list[Any] = []
    for row in rows:
        values = list(getter(row)) if len(names) > 1 else [row[names[0]]]
        for i, process in converted:
            if values[i] is not None:
                values[i] = process(values[i])
        params.append(tuple(values))
    if dialect.name == "postgresql" and len(params) > CHUNK:
        # COPY is several times faster than INSERT for a national catalogue.
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            table.name, records=params, columns=names
        )
        return
    for part in _chunks(params):
        await conn.exec_driver_sql(sql, list(part))


def _compact(agency: Agency) -> dict[str, Any]:
    """The export record without empty fields: what a change record stores."""
    return {k: v for k, v in agency_to_record(agency).items() if v is not None and v != []}


async def apply_changes(
    conn: AsyncConnection,
    changes: Sequence[Change],
    *,
    actor: str,
    reason: str | None = None,
    at: datetime | None = None,
) -> int:
    """Write ``changes`` in the caller's transaction with one ``directory_changes`` record
    each, bump the version and return it (the current version when there is nothing to do).

    Certificates already stored keep their PEM and validity; new fingerprints are added
    without PEM (use :func:`store_certificate` to add one with its PEM).
    """
    if not changes:
        return await current_version(conn)
    at = utc(at) or datetime.now(UTC)
    version = await bump_version(conn, at)
    added = [c.after for c in changes if c.before is None]
    updated = [c.after for c in changes if c.before is not None]
    if added:
        rows = []
        for agency in added:
            row = _row(agency, version)
            row["code"] = row.pop("b_code")
            row["created_at"] = at
            rows.append(row)
        await _insert_many(conn, _A, rows)
    if updated:
        stmt = update(_A).where(_A.c.code == bindparam("b_code"))
        for part in _chunks([_row(a, version) for a in updated]):
            await conn.execute(stmt, list(part))
    await _replace_children(conn, changes, at)
    await directory_accepts.rewrite(conn, changes)
    log = [
        {
            "version": version,
            "at": at,
            "actor": actor,
            "action": c.action,
            "code": c.after.code,
            "reason": reason,
            "before": _compact(c.before) if c.before is not None else None,
            "after": _compact(c.after),
        }
        for c in changes
    ]
    await _insert_many(conn, _L, log)
    return version


async def _replace_children(conn: AsyncConnection, changes: Sequence[Change], at: datetime) -> None:
    """Rewrite successor, system and certificate rows of the agencies whose lists changed."""
    succ = [
        c
        for c in changes
        if (c.before.successors if c.before else ()) != c.after.successors
        or (
            c.before is not None
            and c.before.effective_at != c.after.effective_at
            and c.after.successors
        )
    ]
    syst = [c for c in changes if (c.before.systems if c.before else ()) != c.after.systems]
    cert = [
        c for c in changes if (c.before.certificates if c.before else ()) != c.after.certificates
    ]
    for table, subset in ((_S, succ), (_Y, syst)):
        codes = [c.after.code for c in subset if c.before is not None]
        for part in _chunks(codes):
            await conn.execute(delete(table).where(table.c.code.in_(part)))
    await _insert_many(
        conn,
        _S,
        [
            {
                "code": c.after.code,
                "successor_code": s,
                "position": i,
                "effective_at": utc(c.after.effective_at),
            }
            for c in succ
            for i, s in enumerate(dict.fromkeys(c.after.successors))
        ],
    )
    await _insert_many(
        conn,
        _Y,
        [
            {"code": c.after.code, "system_id": s}
            for c in syst
            for s in dict.fromkeys(c.after.systems)
        ],
    )
    for change in cert:
        keep = set(change.after.certificates)
        old = set(change.before.certificates) if change.before else set()
        gone = old - keep
        if gone:
            await conn.execute(
                delete(_C).where(_C.c.code == change.after.code, _C.c.fingerprint.in_(sorted(gone)))
            )
        new = [f for f in dict.fromkeys(change.after.certificates) if f not in old]
        await _insert_many(conn, _C, [{"code": change.after.code, "fingerprint": f} for f in new])


async def store_certificate(
    conn: AsyncConnection,
    code: str,
    fingerprint: str,
    *,
    pem: str,
    subject: str | None,
    not_before: datetime | None,
    not_after: datetime | None,
) -> None:
    """Record the PEM and validity of a certificate already listed for ``code``."""
    await conn.execute(
        update(_C)
        .where(_C.c.code == code, _C.c.fingerprint == fingerprint)
        .values(pem=pem, subject=subject, not_before=utc(not_before), not_after=utc(not_after))
    )


async def certificate_rows(conn: AsyncConnection, code: str) -> list[dict[str, Any]]:
    """Return the certificate rows (fingerprint, subject, validity, PEM) of one agency."""
    rows = await conn.execute(select(_C).where(_C.c.code == code).order_by(_C.c.fingerprint))
    return [
        {
            "fingerprint": r.fingerprint,
            "subject": r.subject,
            "pem": r.pem,
            "not_before": utc(r.not_before),
            "not_after": utc(r.not_after),
        }
        for r in rows.all()
    ]


async def record_activity(conn: AsyncConnection, activity: dict[str, datetime]) -> None:
    """Raise ``last_activity_at`` to the given instants (never lowers it)."""
    stmt = (
        update(_A)
        .where(_A.c.code == bindparam("b_code"))
        .where((_A.c.last_activity_at.is_(None)) | (_A.c.last_activity_at < bindparam("b_at")))
        .values(last_activity_at=bindparam("b_at"))
    )
    rows = [{"b_code": code, "b_at": utc(at)} for code, at in activity.items()]
    for part in _chunks(rows):
        await conn.execute(stmt, list(part))


async def inactive_codes(
    conn: AsyncConnection, cutoff: datetime
) -> list[tuple[str, datetime | None]]:
    """Return (code, last activity) of active agencies idle since before ``cutoff``; an
    agency never active counts from its creation."""
    query = (
        select(_A.c.code, _A.c.last_activity_at)
        .where(_A.c.status == "active")
        .where(
            (_A.c.last_activity_at < cutoff)
            | (_A.c.last_activity_at.is_(None) & (_A.c.created_at < cutoff))
        )
        .order_by(_A.c.code)
    )
    return [(code, utc(at)) for code, at in (await conn.execute(query)).all()]


async def change_log(
    conn: AsyncConnection, *, code: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Return the latest directory change records, newest first (optionally for one code)."""
    query = select(_L).order_by(_L.c.id.desc()).limit(limit)
    if code is not None:
        query = query.where(_L.c.code == code)
    return [
        {
            "id": r.id,
            "version": r.version,
            "at": utc(r.at),
            "actor": r.actor,
            "action": r.action,
            "code": r.code,
            "reason": r.reason,
            "before": r.before,
            "after": r.after,
        }
        for r in (await conn.execute(query)).all()
    ]


async def count_agencies(conn: AsyncConnection) -> int:
    """Return how many agency rows the store holds."""
    return int(await conn.scalar(select(func.count()).select_from(_A)) or 0)
