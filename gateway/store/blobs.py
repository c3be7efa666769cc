"""Content-addressed blob storage for packet bytes (key = SHA-256 hex of the content)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from gateway.errors import NotFound, StoreError
from gateway.ops.metrics import STORE_ERRORS
from gateway.store.blob_batch import BlobBatch

_KEY = re.compile(r"^[0-9a-f]{64}$")
T = TypeVar("T")


class FileBlobStore:
    """Blobs as files under ``root/ab/cd/<sha256>``, written atomically and fsynced.

    A blob is written to a temporary file in the same directory, fsynced, renamed into
    place and the directory fsynced, so a crash leaves either the whole blob or nothing.
    Concurrent :meth:`put` calls are written together (``gateway.store.blob_batch``): one
    trip to a thread writes every file of the batch, then fsyncs them in one pass (side by
    side), renames them and fsyncs each directory once; each caller is answered after that.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._batch = BlobBatch(self._write_many)

    def path_for(self, key: str) -> Path:
        """Return the file path of ``key`` (validated: 64 lowercase hex digits)."""
        if not _KEY.match(key):
            raise NotFound(f"blob key {key!r}")
        return self.root / key[:2] / key[2:4] / key

    async def put(self, data: bytes, key: str | None = None) -> str:
        """Store ``data`` and return its SHA-256 hex key (idempotent; ``key``: see
        :meth:`BlobStore.put`)."""
        key = key or hashlib.sha256(data).hexdigest()
        try:
            await self._batch.put(key, data)
        except OSError as exc:
            STORE_ERRORS.inc()
            raise StoreError(f"cannot write blob {key}: {exc}") from exc
        return key

    async def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key``."""
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise NotFound(f"blob {key}") from exc
        except OSError as exc:
            STORE_ERRORS.inc()
            raise StoreError(f"cannot read blob {key}: {exc}") from exc

    async def delete(self, key: str) -> None:
        """Remove the blob of ``key`` (a takedown); no error when it is already gone."""
        path = self.path_for(key)
        try:
            await asyncio.to_thread(path.unlink, True)
        except OSError as exc:
            raise StoreError(f"cannot remove blob {key}: {exc}") from exc

    def _write_many(self, blobs: Mapping[str, bytes]) -> dict[str, OSError]:
        """Write ``blobs`` (key → bytes) durably; return the error of each that failed."""
        errors: dict[str, OSError] = {}
        staged: list[tuple[str, Path, str, int]] = []  # key, final path, temporary path, fd
        for key, data in blobs.items():
            path = self.path_for(key)
            try:
                if path.exists() and path.stat().st_size == len(data):
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            except OSError as exc:
                errors[key] = exc
                continue
            staged.append((key, path, tmp, fd))
            try:
                _write_all(fd, data)
            except OSError as exc:
                errors[key] = exc
        # The fsync pass, once every file was handed to the OS. The fsyncs run side by side:
        # the filesystem's journal then commits them together (one after another, each
        # would wait for a journal commit of its own).
        to_sync = [(key, fd) for key, _, _, fd in staged if key not in errors]
        for (key, _), error in zip(
            to_sync, _each(os.fsync, [fd for _, fd in to_sync]), strict=True
        ):
            if error is not None:
                errors[key] = error
        directories: dict[Path, list[str]] = {}
        for key, path, tmp, fd in staged:
            os.close(fd)
            try:
                if key in errors:
                    raise errors[key]
                os.replace(tmp, path)
                directories.setdefault(path.parent, []).append(key)
            except OSError as exc:
                errors[key] = exc
                Path(tmp).unlink(missing_ok=True)
        for keys, error in zip(
            directories.values(), _each(_fsync_dir, list(directories)), strict=True
        ):
            if error is not None:
                errors.update(dict.fromkeys(keys, error))
        return errors


_SYNCERS = 8
_syncers: concurrent.futures.ThreadPoolExecutor | None = None


def _each(fsync: Callable[[T], None], items: Sequence[T]) -> list[OSError | None]:
    """Run ``fsync`` on every item side by side; the error of each (``None``: synced)."""
    global _syncers

    def one(item: T) -> OSError | None:
        try:
            fsync(item)
        except OSError as exc:
            return exc
        return None

    if len(items) <= 1:
        return [one(item) for item in items]
    if _syncers is None:
        _syncers = concurrent.futures.ThreadPoolExecutor(_SYNCERS, "blob-fsync")
    return list(_syncers.map(one, items))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
