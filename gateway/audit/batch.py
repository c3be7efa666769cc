"""Refusal audit records written in batches: many refusals, one transaction.

Each refusal used to be its own transaction; a flood of junk requests then took the
store's single writer from legitimate documents. Refusal records now join the shared
transactions of the engine's writer (``gateway.store.group_commit``), next to the
documents being stored: one chain append for the whole batch keeps the audit chain intact
and in commit order. ``record`` waits for the commit (nothing is lost once the caller is
answered); ``record_soon`` answers at once and the record commits with the next batch
(used for overload refusals, which must not wait on the writer they protect).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit import chain as audit
from gateway.store.group_commit import GroupCommit

log = structlog.get_logger(__name__)

_lanes: weakref.WeakKeyDictionary[Any, GroupCommit[audit.Event, None]] = weakref.WeakKeyDictionary()


async def _append(conn: AsyncConnection, events: Sequence[audit.Event]) -> list[None]:
    await audit.append_many(conn, list(events))
    return [None] * len(events)


def _lane(engine: AsyncEngine) -> GroupCommit[audit.Event, None]:
    lane = _lanes.get(engine.sync_engine)
    if lane is None:
        lane = _lanes[engine.sync_engine] = GroupCommit(engine, _append)
    return lane


async def record(engine: AsyncEngine, event: audit.Event) -> None:
    """Append ``event`` to the audit chain in the next shared transaction; wait for it."""
    await _lane(engine).submit(event)


def record_soon(engine: AsyncEngine, event: audit.Event) -> asyncio.Future[None]:
    """Queue ``event`` for the next shared transaction without waiting (failures logged)."""
    future = _lane(engine).enqueue(event)
    future.add_done_callback(_log_failure)
    return future


async def flush(engine: AsyncEngine) -> None:
    """Wait until every refusal record queued so far for ``engine`` is committed."""
    lane = _lanes.get(engine.sync_engine)
    if lane is not None:
        await lane.flush()


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("cannot audit a refusal", error=str(future.exception()))
