"""Directory persistence: load agencies, apply a change set atomically, the version.

The tables are in :mod:`gateway.directory.tables`; certificates, activity and the change
log in :mod:`gateway.directory.records`.
"""

from __future__ import annotations

import functools
import operator
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.directory import accepts
from gateway.directory.resolver import MAILBOX, Agency, Endpoint, agency_to_record
from gateway.directory.tables import (
    AGENCIES,
    CERTIFICATES,
    CHANGES,
    CHUNK,
    SUCCESSORS,
    SYSTEMS,
    VERSION,
    chunks,
    utc,
)


@dataclass(frozen=True)
class Change:
    """One agency change: ``action`` (add, change, retire, rename, merge, split, dissolve,
    suspend, reactivate, set-endpoint, bind-system, ...), the record ``before`` (None when
    added) and ``after``."""

    action: str
    before: Agency | None
    after: Agency


# -- version ------------------------------------------------------------------------------


async def current_version(conn: AsyncConnection) -> int:
    """Return the directory version (0 before the first change)."""
    value = await conn.scalar(select(VERSION.c.version).where(VERSION.c.id == 1))
    return int(value or 0)


async def bump_version(conn: AsyncConnection, at: datetime) -> int:
    """Increment the version in the caller's transaction (locks the row) and return it."""
    new = await conn.scalar(
        update(VERSION)
        .where(VERSION.c.id == 1)
        .values(version=VERSION.c.version + 1, changed_at=at)
        .returning(VERSION.c.version)
    )
    if new is None:
        await conn.execute(insert(VERSION).values(id=1, version=1, changed_at=at))
        return 1
    return int(new)


# -- load ---------------------------------------------------------------------------------


_LOAD_COLUMNS = (
    AGENCIES.c.code,
    AGENCIES.c.name,
    AGENCIES.c.old_code,
    AGENCIES.c.parent_code,
    AGENCIES.c.status,
    AGENCIES.c.endpoint_kind,
    AGENCIES.c.endpoint_url,
    AGENCIES.c.endpoint_node,
    AGENCIES.c.level,
    AGENCIES.c.effective_at,
    AGENCIES.c.mail,
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
        query = query.where(AGENCIES.c.revision > since)
    if codes is None and since is None:
        # The whole catalogue: children first (few rows), then the agencies streamed in
        # batches and turned into records at once, so rows never pile up in memory.
        successors, systems, certs = await _children(conn, None)
        agencies: list[Agency] = []
        result = await conn.stream(query.execution_options(yield_per=CHUNK))
        async for batch in result.partitions():
            agencies.extend(_agency(r, successors, systems, certs) for r in batch)
        return await accepts.attach(conn, agencies)
    rows: list[Any] = []
    if codes is not None:
        for part in chunks(list(codes)):
            rows.extend((await conn.execute(query.where(AGENCIES.c.code.in_(part)))).all())
    else:
        rows = list((await conn.execute(query)).all())
    if not rows:
        return []
    successors, systems, certs = await _children(conn, [r[0] for r in rows])
    loaded = [_agency(r, successors, systems, certs) for r in rows]
    return await accepts.attach(conn, loaded)


async def _children(
    conn: AsyncConnection, selected: list[str] | None
) -> tuple[dict[str, list[str]], ...]:
    """Successors, systems and certificate fingerprints by code (all, or of ``selected``)."""

    async def one(table: Any, column: Any, order: Any) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        base = select(table.c.code, column).order_by(table.c.code, order)
        parts = [None] if selected is None else list(chunks(selected))
        for part in parts:
            q = base if part is None else base.where(table.c.code.in_(part))
            for code, value in (await conn.execute(q)).all():
                found.setdefault(code, []).append(value)
        return found

    return (
        await one(SUCCESSORS, SUCCESSORS.c.successor_code, SUCCESSORS.c.position),
        await one(SYSTEMS, SYSTEMS.c.system_id, SYSTEMS.c.system_id),
        await one(CERTIFICATES, CERTIFICATES.c.fingerprint, CERTIFICATES.c.fingerprint),
    )


async def find_agency(conn: AsyncConnection, code: str) -> Agency | None:
    """Load one agency by new code, or else by old code."""
    found = await load_agencies(conn, codes=[code])
    if not found:
        new = await conn.scalar(select(AGENCIES.c.code).where(AGENCIES.c.old_code == code).limit(1))
        if new is not None:
            found = await load_agencies(conn, codes=[new])
    return found[0] if found else None


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
        for part in chunks(rows):
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
    for part in chunks(params):
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
        await _insert_many(conn, AGENCIES, rows)
    if updated:
        stmt = update(AGENCIES).where(AGENCIES.c.code == bindparam("b_code"))
        for part in chunks([_row(a, version) for a in updated]):
            await conn.execute(stmt, list(part))
    await _replace_children(conn, changes, at)
    await accepts.rewrite(conn, changes)
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
    await _insert_many(conn, CHANGES, log)
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
    for table, subset in ((SUCCESSORS, succ), (SYSTEMS, syst)):
        codes = [c.after.code for c in subset if c.before is not None]
        for part in chunks(codes):
            await conn.execute(delete(table).where(table.c.code.in_(part)))
    await _insert_many(
        conn,
        SUCCESSORS,
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
        SYSTEMS,
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
                delete(CERTIFICATES).where(
                    CERTIFICATES.c.code == change.after.code,
                    CERTIFICATES.c.fingerprint.in_(sorted(gone)),
                )
            )
        new = [f for f in dict.fromkeys(change.after.certificates) if f not in old]
        await _insert_many(
            conn, CERTIFICATES, [{"code": change.after.code, "fingerprint": f} for f in new]
        )
