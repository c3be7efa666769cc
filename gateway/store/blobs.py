"""Content-addressed blob storage for packet bytes (key = SHA-256 hex of the content)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path

from gateway.errors import NotFound, StoreError
from gateway.ops.metrics import STORE_ERRORS

_KEY = re.compile(r"^[0-9a-f]{64}$")


class FileBlobStore:
    """Blobs as files under ``root/ab/cd/<sha256>``, written atomically and fsynced.

    A blob is written to a temporary file in the same directory, fsynced, renamed into
    place and the directory fsynced, so a crash leaves either the whole blob or nothing.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        """Return the file path of ``key`` (validated: 64 lowercase hex digits)."""
        if not _KEY.match(key):
            raise NotFound(f"blob key {key!r}")
        return self.root / key[:2] / key[2:4] / key

    async def put(self, data: bytes) -> str:
        """Store ``data`` and return its SHA-256 hex key (idempotent)."""
        key = hashlib.sha256(data).hexdigest()
        try:
            await asyncio.to_thread(self._write, key, data)
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

    def _write(self, key: str, data: bytes) -> None:
        path = self.path_for(key)
        if path.exists() and path.stat().st_size == len(data):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
