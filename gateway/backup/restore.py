"""``edoc-gateway restore``: check a backup, put it back, prove the result, resend in flight.

Before anything is touched the whole backup is checked: ``SHA256SUMS`` and the manifest,
the dump's hash and every blob's hash (a damaged backup is refused with ``BACKUP_DAMAGED``),
then that it belongs to this node and store kind (``BACKUP_MISMATCH``) and that the target
store is empty unless ``force`` (``RESTORE_TARGET_NOT_EMPTY``). The blob files are copied
first, then the database is replaced (SQLite: an atomic rename of a verified copy;
PostgreSQL: ``pg_restore`` in one transaction); blobs carried by the dump stay rows of the
database blob store, or are written out as files when the target uses the file store
(``gateway.backup.blobs``). The restored store must then pass the audit chain
verification, show the manifest's audit head and row counts, and every blob it references
must hash to its key where the target's blob store reads it (``RESTORE_VERIFY_FAILED``
otherwise).

Deliveries that were in flight at backup time (``published`` or ``retrying``: their task sat
in RabbitMQ, which is not part of the backup) are put back to ``pending``, so the outbox
sweep of the restarted node publishes them again: nothing in flight is lost; a recipient
may see such a document twice, which every consumer tolerates (idempotent on delivery id).
One audit record ``store.restored`` closes the restore.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import chain as audit
from gateway.backup import postgres as backup_pg
from gateway.backup.blobs import blob_root, export_rows, referenced_query, rows_intact
from gateway.backup.errors import (
    BackupDamaged,
    BackupMismatch,
    RestoreTargetNotEmpty,
    RestoreVerifyFailed,
)
from gateway.backup.snapshot import (
    MANIFEST,
    SUMS,
    Manifest,
    copy_blobs,
    file_sha256,
    in_parallel,
    sqlite_path,
    store_kind,
)
from gateway.store.blob_stores import BlobLocation, blob_location
from gateway.store.blobs import FileBlobStore
from gateway.store.database import create_engine, create_schema, transaction
from gateway.store.models import Delivery

REQUEUED_STATES = ("published", "retrying")


@dataclass(frozen=True)
class RestoreReport:
    """What a restore put back and proved."""

    manifest: Manifest
    audit_records: int
    blobs_verified: int
    requeued: int


def _read_sums(directory: Path) -> dict[str, str]:
    sums = directory / SUMS
    if not sums.is_file():
        raise BackupDamaged(f"{SUMS} missing: not a complete backup")
    found: dict[str, str] = {}
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name or "/" in name or name.startswith("."):
            raise BackupDamaged(f"{SUMS} has an unreadable line: {line[:80]!r}")
        found[name] = digest
    return found


def check_backup(directory: Path) -> Manifest:
    """Check every hash of the backup in ``directory`` and return its manifest.

    Raises ``BackupDamaged`` naming the first files that are missing or altered.
    """
    directory = Path(directory)
    if not (directory / MANIFEST).is_file():
        raise BackupDamaged(f"{MANIFEST} missing in {directory}: incomplete or not a backup")
    sums = _read_sums(directory)
    for name, digest in sums.items():
        path = directory / name
        if not path.is_file():
            raise BackupDamaged(f"{name} missing")
        if file_sha256(path) != digest:
            raise BackupDamaged(f"{name} does not match {SUMS}")
    manifest = Manifest.from_json((directory / MANIFEST).read_bytes())
    if MANIFEST not in sums or manifest.store_file not in sums:
        raise BackupDamaged(f"{SUMS} does not cover the manifest and the database dump")
    if sums[manifest.store_file] != manifest.store_sha256:
        raise BackupDamaged(f"{manifest.store_file}: hash differs from the manifest")
    blobs = FileBlobStore(directory / "blobs")

    def problem(key: str) -> str | None:
        path = blobs.path_for(key)
        if not path.is_file():
            return f"{key} missing"
        return None if file_sha256(path) == key else f"{key} altered"

    in_store = set(manifest.blobs_in_store)  # carried by the dump, whose hash is checked
    files = [k for k in manifest.blobs if k not in in_store]
    bad = [p for p in in_parallel(problem, files) if p is not None]
    if bad:
        raise BackupDamaged(f"{len(bad)} blob(s) unusable: {', '.join(bad[:10])}")
    return manifest


def _sqlite_holds_data(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size == 0:
        return False
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return any(
            conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0]
            for t in ("messages", "audit_log")
            if t in tables
        )
    finally:
        conn.close()


def _replace_sqlite(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restoring")
    with source.open("rb") as src, tmp.open("wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    if file_sha256(tmp) != file_sha256(source):
        tmp.unlink()
        raise BackupDamaged("the database copy does not match the backup")
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, target)


async def _verify(
    engine: AsyncEngine, manifest: Manifest, where: BlobLocation, blobs: FileBlobStore
) -> tuple[int, int]:
    """Audit chain, head, row counts, every blob where the target's blob store reads it
    (rows of the database store, else files): return (audit records, blobs verified)."""
    problems: list[str] = []
    async with engine.connect() as conn:
        problems += await audit.verify_chain(conn)
        head = (await conn.execute(select(audit.AuditHead.seq, audit.AuditHead.hash))).first()
        seq, digest = (int(head[0]), str(head[1])) if head else (0, "0" * 64)
        if (seq, digest) != (manifest.audit_head_seq, manifest.audit_head_hash):
            named = manifest.audit_head_seq
            problems.append(f"audit head is seq {seq}, the manifest names {named}")
        for table, expected in manifest.tables.items():
            count = int(await conn.scalar(text(f'SELECT count(*) FROM "{table}"')) or 0)
            if count != expected:
                problems.append(f"table {table}: {count} rows, the manifest names {expected}")
        records = int(await conn.scalar(select(func.count()).select_from(audit.AuditRecord)) or 0)
        query = text(referenced_query(manifest.tables))
        keys = [str(r[0]) for r in await conn.execute(query)]
        rows = await rows_intact(conn, keys) if where.kind == "database" else {}

    def damaged(key: str) -> bool:
        if key in rows:
            return not rows[key]
        path = blobs.path_for(key)
        return not path.is_file() or file_sha256(path) != key

    flags = await asyncio.to_thread(in_parallel, damaged, keys)
    bad = [key for key, flag in zip(sorted(keys), flags, strict=True) if flag]
    problems += [f"blob {key} missing or altered" for key in bad[:10]]
    if problems:
        raise RestoreVerifyFailed("; ".join(problems[:10]))
    return records, len(keys)


async def _requeue(engine: AsyncEngine, manifest: Manifest, actor: str) -> int:
    """Put in-flight deliveries back into the outbox and record the restore (one record)."""
    async with transaction(engine) as conn:
        result = await conn.execute(
            update(Delivery)
            .where(Delivery.state.in_(REQUEUED_STATES))
            .values(state="pending", updated_at=datetime.now(UTC))
        )
        requeued = int(result.rowcount or 0)
        await audit.append(
            conn,
            event="store.restored",
            actor=actor,
            outcome="ok",
            detail={
                "backup_created_at": manifest.created_at,
                "audit_head": manifest.audit_head_seq,
                "messages": manifest.tables.get("messages", 0),
                "requeued": requeued,
            },
        )
    return requeued


async def restore_backup(
    *,
    directory: Path,
    store_url: str,
    blob_dir: Path,
    node_code: str,
    force: bool = False,
    actor: str = "cli",
    blob_url: str | None = None,
) -> RestoreReport:
    """Restore the backup in ``directory`` into the store and blob store given (``blob_url``:
    the node's ``store.blob_url``, its files under ``blob_dir`` or the URL's path)."""
    directory = Path(directory)
    where = blob_location(blob_url, blob_dir, store_url)
    root = blob_root(where)  # refuses an S3 blob store before anything is touched
    manifest = await asyncio.to_thread(check_backup, directory)
    if manifest.node != node_code:
        raise BackupMismatch(f"backup of node {manifest.node}, this node is {node_code}")
    kind = store_kind(store_url)
    if kind != manifest.store_kind:
        raise BackupMismatch(f"backup of a {manifest.store_kind} store, the target is {kind}")
    if kind == "sqlite":
        holds = await asyncio.to_thread(_sqlite_holds_data, sqlite_path(store_url))
    else:
        holds = await backup_pg.holds_data(store_url)
    if holds and not force:
        raise RestoreTargetNotEmpty(store_url.split("@")[-1])
    target_blobs = FileBlobStore(root)
    in_store = set(manifest.blobs_in_store)
    files = [k for k in manifest.blobs if k not in in_store]
    await asyncio.to_thread(copy_blobs, files, FileBlobStore(directory / "blobs"), target_blobs)
    dump = directory / manifest.store_file
    if kind == "sqlite":
        await asyncio.to_thread(_replace_sqlite, dump, sqlite_path(store_url))
    else:
        await backup_pg.restore(store_url, dump)
    engine = create_engine(store_url)
    try:
        await create_schema(engine)  # tables added by a newer gateway than the backup's
        if where.kind == "file" and in_store:
            await export_rows(engine, in_store, target_blobs)
        records, verified = await _verify(engine, manifest, where, target_blobs)
        requeued = await _requeue(engine, manifest, actor)
    finally:
        await engine.dispose()
    return RestoreReport(manifest, records, verified, requeued)
