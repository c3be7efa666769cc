"""``edoc-gateway backup``: a consistent snapshot of a running node's store and its blobs.

The database is copied while the node keeps working: SQLite through the online backup API
(one step, under a read transaction, so the copy is one committed state of the WAL
database), PostgreSQL by ``pg_dump`` inside an exported snapshot (``gateway.backup.postgres``).
The blob keys are then read *from that snapshot*; blobs are content-addressed, written
before (or with) the row that names them and deleted only by a takedown (whose message is
then left out), so every key of the snapshot is stored. Where they are depends on the blob
store (``gateway.backup.blobs``): files are copied and hashed, rows of the database blob
store travel in the dump and are hashed from the snapshot, an S3 store is refused.
``manifest.json`` records the node, the store kind, the dump's SHA-256, the row count of
every table, the audit chain head, the deliveries in flight and every blob's hash;
``SHA256SUMS`` (``sha256sum -c`` format) covers the manifest and the dump. The manifest is
written last: a directory without one is not a backup.

Layout of a backup directory::

    manifest.json   SHA256SUMS   store.sqlite3 | store.pgdump   blobs/ab/cd/<sha256>
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from gateway.audit import chain as audit
from gateway.backup import postgres as backup_pg
from gateway.backup.blobs import blob_root, referenced_query, split_blobs, sqlite_in_store
from gateway.backup.errors import BackupDamaged, BackupFailed, BackupMismatch
from gateway.backup.postgres import Snapshot
from gateway.errors import NotFound
from gateway.store.blob_stores import blob_location
from gateway.store.blobs import FileBlobStore
from gateway.store.database import create_engine, transaction

FORMAT = "edoc-gateway-backup/1"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
SQLITE_FILE = "store.sqlite3"
PG_FILE = "store.pgdump"
IN_FLIGHT = ("pending", "published", "retrying")
_CHUNK = 1 << 20
IO_THREADS = 8
T = TypeVar("T")


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, and the hashes that prove it is intact."""

    node: str
    store_kind: str
    store_file: str
    store_sha256: str
    store_size: int
    tables: dict[str, int]
    audit_head_seq: int
    audit_head_hash: str
    in_flight: int
    blobs: dict[str, int] = field(default_factory=dict)
    created_at: str = ""
    blob_store: str = "file"
    # Blobs carried by the dump (rows of the database blob store), not files of blobs/.
    blobs_in_store: list[str] = field(default_factory=list)
    format: str = FORMAT

    def to_json(self) -> bytes:
        """The manifest as written to ``manifest.json`` (sorted, UTF-8)."""
        text = json.dumps(asdict(self), ensure_ascii=False, indent=1, sort_keys=True)
        return (text + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Read a manifest; ``BackupDamaged`` when unreadable, ``BackupMismatch`` on format."""
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise BackupDamaged(f"{MANIFEST} is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise BackupMismatch(f"backup format {found!r}, this gateway reads {FORMAT}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise BackupDamaged(f"{MANIFEST} has unexpected fields: {exc}") from exc


@dataclass(frozen=True)
class BackupResult:
    """Where the backup went and what it holds."""

    directory: Path
    manifest: Manifest


def store_kind(url: str) -> str:
    """``sqlite`` or ``postgresql`` for a store URL."""
    if url.startswith("sqlite"):
        return "sqlite"
    if url.startswith(("postgresql", "postgres")):
        return "postgresql"
    raise BackupMismatch(f"unsupported store URL scheme: {url.split(':', 1)[0]}")


def sqlite_path(url: str) -> Path:
    """The database file of a ``sqlite:///`` URL."""
    _, _, rest = url.partition(":///")
    path = rest.split("?", 1)[0]
    if not path or path.startswith(":memory:"):
        raise BackupMismatch("an in-memory SQLite store cannot be backed up")
    return Path(path)


def file_sha256(path: Path) -> str:
    """SHA-256 hex of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sqlite_snapshot(source: Path, target: Path) -> None:
    """Copy a live SQLite database with the online backup API (one step: one commit state)."""
    if not source.is_file():
        raise BackupFailed(f"no SQLite database at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
    except sqlite3.Error as exc:
        raise BackupFailed(f"SQLite backup failed: {exc}") from exc
    finally:
        dst.close()
        src.close()


def sqlite_facts(path: Path) -> Snapshot:
    """Row counts, audit head, blob keys and in-flight deliveries of a SQLite file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY 1"
            )
        ]
        tables = {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}
        head = None
        if "audit_head" in tables:
            row = conn.execute("SELECT seq, hash FROM audit_head ORDER BY id LIMIT 1").fetchone()
            head = (int(row[0]), str(row[1])) if row else None
        blobs: dict[str, int] = {}
        if "messages" in tables:
            query = referenced_query(tables)
            blobs = {str(k): int(s) for k, s in conn.execute(query)}
        in_flight = 0
        if "deliveries" in tables:
            marks = ",".join("?" for _ in IN_FLIGHT)
            query = f"SELECT count(*) FROM deliveries WHERE state IN ({marks})"
            in_flight = int(conn.execute(query, IN_FLIGHT).fetchone()[0])
        in_store = sqlite_in_store(conn) if "blobs" in tables and "messages" in tables else {}
        return Snapshot(tables, head, blobs, in_flight, in_store)
    except sqlite3.Error as exc:
        raise BackupDamaged(f"cannot read the SQLite database {path.name}: {exc}") from exc
    finally:
        conn.close()


def copy_blob(source: Path, target: Path, key: str) -> int:
    """Copy one blob, checking on the way that its content hashes to ``key``; return its size.

    The copy goes to a temporary name, is fsynced and renamed, so a crash leaves no half blob.
    """
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{target.name}")
    size = 0
    with source.open("rb") as src, tmp.open("wb") as dst:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    if digest.hexdigest() != key:
        tmp.unlink()
        raise BackupDamaged(f"blob {key} does not hash to its name")
    os.replace(tmp, target)
    return size


def in_parallel(work: Callable[[str], T], keys: Iterable[str]) -> list[T]:
    """Run ``work`` on every key in a few threads (file I/O, fsync and SHA-256 release the
    GIL: the waits of one blob overlap the others'); results in key order."""
    with ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="edoc-backup") as pool:
        return list(pool.map(work, sorted(keys)))


def copy_blobs(keys: Iterable[str], source: FileBlobStore, target: FileBlobStore) -> int:
    """Copy every blob of ``keys``; return the bytes copied. Missing or altered blobs are
    named together in one ``BackupFailed``."""

    def one(key: str) -> int | str:
        try:
            return copy_blob(source.path_for(key), target.path_for(key), key)
        except (FileNotFoundError, NotFound):
            return f"{key} missing"
        except BackupDamaged:
            return f"{key} altered"

    results = in_parallel(one, keys)
    problems = [r for r in results if isinstance(r, str)]
    if problems:
        shown = ", ".join(problems[:10])
        raise BackupFailed(f"{len(problems)} referenced blob(s) unusable: {shown}")
    return sum(r for r in results if isinstance(r, int))


def write_sums(directory: Path, names: Iterable[str]) -> None:
    """Write ``SHA256SUMS`` for ``names`` (checkable with ``sha256sum -c``)."""
    lines = [f"{file_sha256(directory / n)}  {n}\n" for n in names]
    (directory / SUMS).write_text("".join(lines), encoding="utf-8")


def _fresh_directory(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()):
        raise BackupFailed(f"{directory} is not empty: give a new directory per backup")
    directory.mkdir(parents=True, exist_ok=True)


async def create_backup(
    *,
    store_url: str,
    blob_dir: Path,
    node_code: str,
    directory: Path,
    actor: str = "cli",
    blob_url: str | None = None,
) -> BackupResult:
    """Back up the store at ``store_url`` and the blobs it references into ``directory``
    (``blob_url``: the node's ``store.blob_url``); one audit record ``backup.created`` in the
    live store says who, where and what."""
    kind = store_kind(store_url)
    where = blob_location(blob_url, blob_dir, store_url)
    root = blob_root(where)  # refuses an S3 blob store before anything is written
    directory = Path(directory)
    _fresh_directory(directory)
    if kind == "sqlite":
        dump_name = SQLITE_FILE
        await asyncio.to_thread(sqlite_snapshot, sqlite_path(store_url), directory / dump_name)
        facts = await asyncio.to_thread(sqlite_facts, directory / dump_name)
    else:
        dump_name = PG_FILE
        facts = await backup_pg.dump(store_url, directory / dump_name)
    if "messages" not in facts.tables or "audit_log" not in facts.tables:
        raise BackupFailed("the store is not initialised (no gateway tables): nothing to back up")
    in_store, files = split_blobs(facts, where)
    await asyncio.to_thread(
        copy_blobs, files, FileBlobStore(root), FileBlobStore(directory / "blobs")
    )
    dump = directory / dump_name
    head_seq, head_hash = facts.audit_head or (0, "0" * 64)
    manifest = Manifest(
        node=node_code,
        store_kind=kind,
        store_file=dump_name,
        store_sha256=await asyncio.to_thread(file_sha256, dump),
        store_size=dump.stat().st_size,
        tables=facts.tables,
        audit_head_seq=head_seq,
        audit_head_hash=head_hash,
        in_flight=facts.in_flight,
        blobs=dict(sorted(facts.blobs.items())),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        blob_store=where.kind,
        blobs_in_store=in_store,
    )
    (directory / MANIFEST).write_bytes(manifest.to_json())
    write_sums(directory, [MANIFEST, dump_name])
    await _record(store_url, manifest, directory, actor)
    return BackupResult(directory, manifest)


async def _record(store_url: str, manifest: Manifest, directory: Path, actor: str) -> None:
    engine = create_engine(store_url)
    try:
        async with transaction(engine) as conn:
            await audit.append(
                conn,
                event="backup.created",
                actor=actor,
                outcome="ok",
                detail={
                    "directory": str(directory),
                    "audit_head": manifest.audit_head_seq,
                    "messages": manifest.tables.get("messages", 0),
                    "blobs": len(manifest.blobs),
                    "store_sha256": manifest.store_sha256,
                },
            )
    finally:
        await engine.dispose()


def summary(manifest: Manifest) -> dict[str, Any]:
    """The figures an operator checks after a backup or before a restore."""
    return {
        "node": manifest.node,
        "store": manifest.store_kind,
        "created_at": manifest.created_at,
        "messages": manifest.tables.get("messages", 0),
        "deliveries": manifest.tables.get("deliveries", 0),
        "in_flight": manifest.in_flight,
        "audit_records": manifest.tables.get("audit_log", 0),
        "audit_head": manifest.audit_head_seq,
        "blobs": len(manifest.blobs),
        "blob_bytes": sum(manifest.blobs.values()),
    }
