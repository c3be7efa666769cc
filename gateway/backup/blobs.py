"""The blobs of a backup, per blob store (``store.blob_url``, ``gateway.store.blob_stores``).

- ``file`` (``blob_dir`` or ``file:///path``): every referenced blob is a file under that
  directory (``ab/cd/<sha256>``); the backup copies it to ``blobs/`` and hashes it on the way.
- ``database`` (the default on PostgreSQL): the blobs are rows of the store's own ``blobs``
  table, so the database dump (``pg_dump``, the SQLite backup) already carries them; their
  SHA-256 is checked *from the snapshot*, and the manifest lists them in ``blobs_in_store``.
  A referenced blob that is not a row (written to ``blob_dir`` by an earlier version: the
  store reads it from there) is copied as a file, as for ``file``.
- ``s3://``: refused with ``BACKUP_BLOB_STORE_UNSUPPORTED`` before anything is written. The
  objects live outside the node; back the bucket up with the object store's own means
  (versioning, replication) and the node's database with this command on a file or
  database blob store.

A message taken down (``gateway.legal.takedown``: a tombstone, its bytes removed) references
no blob any more: its key is neither copied nor checked.

On restore the blob files go back to the target's directory, the dump brings the rows; a
target on the ``file`` store gets the rows' bytes written out as files, so the restored node
reads every blob from the store it is configured with.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.backup.errors import BackupFailed, BackupUnsupported
from gateway.store.blob_stores import BlobLocation
from gateway.store.blobs import FileBlobStore
from gateway.store.models import Blob, Message

if TYPE_CHECKING:  # backup_pg reads the referenced blobs with this module's query
    from gateway.backup.postgres import Snapshot


def referenced_query(tables: Iterable[str]) -> str:
    """SQL of the referenced blobs, ``(blob_key, size)``: those of every message not taken
    down (a tombstone's bytes are removed on purpose)."""
    live = " WHERE id NOT IN (SELECT message_id FROM tombstones)" if "tombstones" in tables else ""
    return f"SELECT blob_key, max(size) AS size FROM messages{live} GROUP BY blob_key"


def blob_root(where: BlobLocation) -> Path:
    """The directory of the node's blob files; ``BackupUnsupported`` for an S3 store."""
    if where.kind == "s3" or where.root is None:
        raise BackupUnsupported(where.url.split("?", 1)[0])
    return where.root


def split_blobs(facts: Snapshot, where: BlobLocation) -> tuple[list[str], dict[str, int]]:
    """Referenced blobs the dump carries (checked) and those to copy as files.

    ``BackupFailed`` names every row of the snapshot whose bytes do not hash to its key.
    """
    if where.kind != "database":
        return [], dict(facts.blobs)
    altered = sorted(k for k, ok in facts.in_store.items() if not ok)
    if altered:
        shown = ", ".join(f"{k} altered" for k in altered[:10])
        raise BackupFailed(f"{len(altered)} referenced blob(s) unusable: {shown}")
    in_store = sorted(k for k in facts.blobs if k in facts.in_store)
    files = {k: s for k, s in facts.blobs.items() if k not in facts.in_store}
    return in_store, files


def sqlite_in_store(conn: sqlite3.Connection) -> dict[str, bool]:
    """Referenced rows of a SQLite snapshot's ``blobs`` table: key -> bytes hash to it."""
    query = "SELECT key, data FROM blobs WHERE key IN (SELECT blob_key FROM messages)"
    return {str(k): hashlib.sha256(bytes(d)).hexdigest() == k for k, d in conn.execute(query)}


async def rows_intact(conn: AsyncConnection, keys: Iterable[str]) -> dict[str, bool]:
    """Of ``keys``, those that are rows of the ``blobs`` table: key -> bytes hash to it."""
    wanted = set(keys)
    found: dict[str, bool] = {}
    if conn.dialect.name == "postgresql":
        query = text(
            "SELECT key, encode(sha256(data), 'hex') = key FROM blobs "
            "WHERE key IN (SELECT blob_key FROM messages)"
        )
        for key, ok in await conn.execute(query):
            if key in wanted:
                found[str(key)] = bool(ok)
        return found
    referenced = select(Message.blob_key)
    result = await conn.stream(select(Blob.key, Blob.data).where(Blob.key.in_(referenced)))
    async for key, data in result:
        if key in wanted:
            found[str(key)] = hashlib.sha256(bytes(data)).hexdigest() == key
    return found


async def export_rows(engine: AsyncEngine, keys: Iterable[str], target: FileBlobStore) -> int:
    """Write the ``blobs`` rows of ``keys`` out as files of ``target``; return how many."""
    written = 0
    async with engine.connect() as conn:
        for key in sorted(set(keys)):
            data = (await conn.execute(select(Blob.data).where(Blob.key == key))).scalar()
            if data is not None:
                await target.put(bytes(data))
                written += 1
    return written
