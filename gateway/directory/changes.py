"""Directory changes, each one transaction in the store: import, lifecycle, sync.

Every operation reads the current records from the store (not from a process's memory, so
the CLI works on its own), writes the change set with one ``directory_changes`` record per
agency (who, when, before, after), appends one record to the audit chain, and bumps the
directory version, which running :class:`~gateway.directory.live.SqlDirectory` instances
pick up within about a second. Lifecycle: rename (optionally to a new code), merge, split,
dissolve, suspend and reactivate, each with an effective date. Sync and seeding are in
``gateway.directory.sync``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit import chain as audit
from gateway.directory.formats import Diff, ImportFormatError, Parsed, diff, parse
from gateway.directory.records import inactive_codes
from gateway.directory.resolver import Agency, Endpoint, normalize_code
from gateway.directory.store import Change, apply_changes, find_agency, load_agencies
from gateway.directory.tables import utc
from gateway.errors import CodeUnknown, DirectoryChangeRefused
from gateway.store.database import transaction

log = structlog.get_logger(__name__)


def _now(at: datetime | None) -> datetime:
    return utc(at) or datetime.now(UTC)


async def _audit(
    conn: AsyncConnection, event: str, actor: str, agency: str | None, detail: dict[str, Any]
) -> None:
    await audit.append(conn, event=f"directory.{event}", actor=actor, agency=agency, detail=detail)


async def _require(conn: AsyncConnection, code: str) -> Agency:
    agency = await find_agency(conn, normalize_code(code))
    if agency is None:
        raise CodeUnknown(code, path=code)
    return agency


async def _commit(
    conn: AsyncConnection,
    changes: Sequence[Change],
    *,
    actor: str,
    reason: str | None,
    at: datetime,
) -> int:
    version = await apply_changes(conn, changes, actor=actor, reason=reason, at=at)
    for change in changes:
        await _audit(
            conn,
            change.action,
            actor,
            change.after.code,
            {
                "version": version,
                "reason": reason,
                "status": change.after.status,
                "successors": list(change.after.successors),
            },
        )
    return version


# -- import -------------------------------------------------------------------------------


async def import_agencies(
    engine: AsyncEngine,
    parsed: Parsed,
    *,
    actor: str,
    retire_missing: bool = True,
    dry_run: bool = False,
    defaults: Mapping[str, Any] | None = None,
    reason: str | None = None,
    max_retire_fraction: float = 1.0,
    at: datetime | None = None,
) -> Diff:
    """Apply ``parsed`` as a diff against the store, atomically; return what changed.

    ``retire_missing`` retires live agencies absent from ``parsed`` (a full catalogue);
    ``max_retire_fraction`` refuses an import that would retire more than that share of
    the live agencies (a sync guard against a truncated upstream list).
    """
    at = _now(at)
    async with transaction(engine) as conn:
        current = {a.code: a for a in await load_agencies(conn)}
        result = diff(current, parsed, retire_missing=retire_missing, at=at, defaults=defaults)
        live = sum(1 for a in current.values() if a.status in ("active", "suspended"))
        if live and len(result.retired) > max_retire_fraction * live:
            raise DirectoryChangeRefused(
                f"import would retire {len(result.retired)} of {live} live agencies"
            )
        if dry_run or not result:
            return result
        version = await apply_changes(conn, result.changes(), actor=actor, reason=reason, at=at)
        summary = result.summary()
        await _audit(conn, "import", actor, None, {"version": version, "reason": reason, **summary})
    log.info(
        "directory.imported",
        actor=actor,
        added=len(result.added),
        changed=len(result.changed),
        retired=len(result.retired),
    )
    return result


def parse_import(data: bytes | str, fmt: str) -> Parsed:
    """Parse import data, turning format problems into :class:`DirectoryChangeRefused`."""
    try:
        return parse(data, fmt)
    except ImportFormatError as exc:
        raise DirectoryChangeRefused(str(exc)) from exc


# -- single-agency changes ----------------------------------------------------------------


async def update_agency(
    engine: AsyncEngine,
    code: str,
    change: Callable[[Agency], Agency],
    *,
    action: str,
    actor: str,
    reason: str | None = None,
    at: datetime | None = None,
) -> Agency:
    """Apply ``change`` to one agency (found by new or old code) and return the new record."""
    at = _now(at)
    async with transaction(engine) as conn:
        before = await _require(conn, code)
        after = change(before)
        if after != before:
            await _commit(conn, [Change(action, before, after)], actor=actor, reason=reason, at=at)
    return after


async def set_endpoint(
    engine: AsyncEngine, code: str, endpoint: Endpoint, *, actor: str, reason: str | None = None
) -> Agency:
    """Set where an agency's documents go (mailbox, push URL, peer node)."""
    if endpoint.kind == "push" and not endpoint.url:
        raise DirectoryChangeRefused("a push endpoint needs a URL")
    if endpoint.kind == "peer" and not endpoint.node:
        raise DirectoryChangeRefused("a peer endpoint needs a node")
    return await update_agency(
        engine,
        code,
        lambda a: replace(a, endpoint=endpoint),
        action="set-endpoint",
        actor=actor,
        reason=reason,
    )


async def bind_system(
    engine: AsyncEngine,
    code: str,
    system_id: str,
    *,
    actor: str,
    unbind: bool = False,
    reason: str | None = None,
) -> Agency:
    """Bind (or unbind) a calling system to an agency."""

    def change(agency: Agency) -> Agency:
        systems = [s for s in agency.systems if s != system_id]
        if not unbind:
            systems.append(system_id)
        return replace(agency, systems=tuple(systems))

    return await update_agency(
        engine,
        code,
        change,
        action="unbind-system" if unbind else "bind-system",
        actor=actor,
        reason=reason,
    )


# -- lifecycle ----------------------------------------------------------------------------


async def rename(
    engine: AsyncEngine,
    code: str,
    *,
    actor: str,
    name: str | None = None,
    new_code: str | None = None,
    at: datetime | None = None,
    reason: str | None = None,
) -> Agency:
    """Rename an agency; with ``new_code`` the agency moves to a new code (the old record
    becomes ``merged`` into it, the new one keeps the old code as ``old_code``)."""
    at = _now(at)
    if new_code is None:
        if not name:
            raise DirectoryChangeRefused("rename needs a new name or a new code")
        return await update_agency(
            engine,
            code,
            lambda a: replace(a, name=name),
            action="rename",
            actor=actor,
            reason=reason,
            at=at,
        )
    new_code = normalize_code(new_code)
    async with transaction(engine) as conn:
        before = await _require(conn, code)
        if await find_agency(conn, new_code) is not None:
            raise DirectoryChangeRefused(f"code {new_code} is already in the directory")
        created = replace(
            before,
            code=new_code,
            old_code=before.code,
            name=name or before.name,
            status="active",
            successors=(),
            effective_at=at,
        )
        retired = replace(
            before, status="merged", successors=(new_code,), effective_at=at, systems=()
        )
        await _commit(
            conn,
            [Change("rename", None, created), Change("rename", before, retired)],
            actor=actor,
            reason=reason,
            at=at,
        )
    return created


async def merge(
    engine: AsyncEngine,
    codes: Iterable[str],
    into: str,
    *,
    actor: str,
    at: datetime | None = None,
    reason: str | None = None,
) -> list[Agency]:
    """Merge agencies into ``into`` (which must exist): they resolve to it from ``at``."""
    at = _now(at)
    async with transaction(engine) as conn:
        target = await _require(conn, into)
        changes = []
        for code in codes:
            before = await _require(conn, code)
            if before.code == target.code:
                raise DirectoryChangeRefused(f"cannot merge {before.code} into itself")
            changes.append(
                Change(
                    "merge",
                    before,
                    replace(before, status="merged", successors=(target.code,), effective_at=at),
                )
            )
        await _commit(conn, changes, actor=actor, reason=reason, at=at)
    return [c.after for c in changes]


async def split(
    engine: AsyncEngine,
    code: str,
    into: Sequence[str],
    *,
    actor: str,
    at: datetime | None = None,
    reason: str | None = None,
) -> Agency:
    """Split an agency into several (which must exist); its code is refused from ``at``,
    naming them."""
    if len(into) < 2:
        raise DirectoryChangeRefused("a split needs at least two successors")
    return await _retire(engine, code, into, action="split", actor=actor, at=at, reason=reason)


async def dissolve(
    engine: AsyncEngine,
    code: str,
    *,
    actor: str,
    successors: Sequence[str] = (),
    at: datetime | None = None,
    reason: str | None = None,
) -> Agency:
    """Dissolve (retire) an agency; its code is refused from ``at``, naming ``successors``."""
    return await _retire(
        engine, code, successors, action="dissolve", actor=actor, at=at, reason=reason
    )


async def _retire(
    engine: AsyncEngine,
    code: str,
    successors: Sequence[str],
    *,
    action: str,
    actor: str,
    at: datetime | None,
    reason: str | None,
) -> Agency:
    at = _now(at)
    async with transaction(engine) as conn:
        before = await _require(conn, code)
        resolved = tuple([(await _require(conn, s)).code for s in successors])
        if before.code in resolved:
            raise DirectoryChangeRefused(f"{before.code} cannot succeed itself")
        after = replace(before, status="dissolved", successors=resolved, effective_at=at)
        await _commit(conn, [Change(action, before, after)], actor=actor, reason=reason, at=at)
    return after


async def set_status(
    engine: AsyncEngine,
    codes: Iterable[str],
    status: str,
    *,
    actor: str,
    reason: str | None = None,
    at: datetime | None = None,
) -> list[Agency]:
    """Suspend (``suspended``) or reactivate (``active``) agencies in one transaction."""
    if status not in ("active", "suspended"):
        raise DirectoryChangeRefused("status must be active or suspended")
    at = _now(at)
    action = "suspend" if status == "suspended" else "reactivate"
    async with transaction(engine) as conn:
        changes = []
        for code in codes:
            before = await _require(conn, code)
            if before.status in ("merged", "dissolved"):
                raise DirectoryChangeRefused(f"{before.code} is {before.status}")
            if before.status != status:
                changes.append(
                    Change(action, before, replace(before, status=status, effective_at=at))
                )
        await _commit(conn, changes, actor=actor, reason=reason, at=at)
    return [c.after for c in changes]


async def inactive(
    engine: AsyncEngine, *, days: int = 180, now: datetime | None = None
) -> list[tuple[str, datetime | None]]:
    """List live agencies with no send/receive activity for ``days`` days."""
    cutoff = _now(now) - timedelta(days=days)
    async with engine.connect() as conn:
        return await inactive_codes(conn, cutoff)


# Registering a signer certificate lives in its own module; existing callers import it here.
