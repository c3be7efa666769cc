"""Keeping the directory fed: upstream sync, first-boot seeding, start-up of a live directory.

The national axis (or a provincial hub) publishes the whole agency list; a
:class:`DirectorySource` fetches it (the VXP client supplies one; :class:`FileSource` reads
a file) and :func:`sync_once` applies it as a full import. :func:`run_sync` repeats that
periodically. :func:`start_directory` is what the application runs when the store opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.directory.changes import import_agencies, parse_import
from gateway.directory.formats import Diff, guess_format
from gateway.directory.live import SqlDirectory
from gateway.directory.records import count_agencies
from gateway.directory.resolver import Endpoint
from gateway.ops import metrics

if TYPE_CHECKING:
    from gateway.config import Settings

log = structlog.get_logger(__name__)
_SEED_LOCK = 0x65646F64  # advisory lock key of first-boot seeding ("edod")


class DirectorySource(Protocol):
    """An upstream agency list (the national axis, a file); records in the axis shape
    (``code``, ``oldCode``/``code102``, ``name``, ``pid``, ``mail``) or the export shape."""

    async def fetch(self) -> list[dict[str, Any]]:
        """Return the whole upstream agency list."""
        ...


class FileSource:
    """A :class:`DirectorySource` reading a JSON agency list (axis or export shape)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    async def fetch(self) -> list[dict[str, Any]]:
        """Read and return the records of the file."""
        text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        document = json.loads(text)
        if isinstance(document, dict):
            document = document.get("data") or document.get("agencies") or []
        return list(document)


async def sync_once(
    engine: AsyncEngine,
    source: DirectorySource,
    *,
    actor: str = "sync",
    fmt: str = "axis",
    max_retire_fraction: float = 0.1,
    defaults: Mapping[str, Any] | None = None,
) -> Diff:
    """Fetch the upstream list and apply it as a full import: absent agencies are retired,
    unless that would retire more than ``max_retire_fraction`` of the live ones (then
    :class:`~gateway.errors.DirectoryChangeRefused`). Agencies new to this node get
    ``defaults`` (by default a ``peer`` endpoint through the axis)."""
    records = await source.fetch()
    parsed = parse_import(json.dumps(records), fmt)
    if defaults is None:
        defaults = {"endpoint": Endpoint("peer", node="axis")}
    result = await import_agencies(
        engine,
        parsed,
        actor=actor,
        retire_missing=True,
        reason="sync",
        max_retire_fraction=max_retire_fraction,
        defaults=defaults,
    )
    metrics.DIRECTORY_LAST_SYNC.set_to_current_time()
    return result


async def run_sync(
    engine: AsyncEngine, source: DirectorySource, *, interval: float, **options: Any
) -> None:
    """Run :func:`sync_once` every ``interval`` seconds until cancelled; a failure is
    logged and retried at the next tick."""
    while True:
        try:
            result = await sync_once(engine, source, **options)
            log.info(
                "directory.synced",
                **{k: v for k, v in result.summary().items() if not k.endswith("_codes")},
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("directory.sync_failed", error=str(exc))
        await asyncio.sleep(interval)


async def seed(
    engine: AsyncEngine,
    *,
    data: bytes | None = None,
    fmt: str = "csv",
    records: Sequence[Mapping[str, Any]] = (),
    actor: str = "seed",
) -> Diff | None:
    """Import a first catalogue when the store holds no agency yet (first boot); return
    what was added, or None when the store was already filled or nothing was given.

    Processes of one node starting together on one PostgreSQL database seed one at a time
    (an advisory lock): the first fills the empty store, the others find it filled, instead
    of all inserting the same agencies and failing on their keys."""
    if await _filled(engine) or (data is None and not records):
        return None
    if data is None:
        data, fmt = json.dumps(list(records)).encode(), "json"
    parsed = parse_import(data, fmt)
    async with _one_seeder(engine):
        if await _filled(engine):  # another process seeded it while this one waited
            return None
        return await import_agencies(engine, parsed, actor=actor, retire_missing=False)


async def _filled(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return bool(await count_agencies(conn))


@contextlib.asynccontextmanager
async def _one_seeder(engine: AsyncEngine) -> AsyncIterator[None]:
    if engine.dialect.name != "postgresql":
        yield  # SQLite: the store of one gateway process, not shared by several
        return
    async with engine.connect() as lock:
        await lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _SEED_LOCK})
        try:
            yield
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _SEED_LOCK})


async def start_directory(directory: SqlDirectory, engine: AsyncEngine, settings: Settings) -> None:
    """Seed the store from ``settings.directory`` (file, inline agencies) when it is empty,
    then load ``directory`` and start following changes. Call ``directory.close()`` at
    shutdown."""
    path = settings.directory.file
    if path is not None:
        data = await asyncio.to_thread(Path(path).read_bytes)
        await seed(engine, data=data, fmt=guess_format(str(path), data))
    if settings.directory.agencies:
        await seed(engine, records=[dict(r) for r in settings.directory.agencies])
    await directory.start(engine)
