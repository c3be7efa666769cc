"""Blob stores that scale out, chosen by URL (``store.blob_url``).

- ``file`` (or ``file:///path``): :class:`gateway.store.blobs.FileBlobStore` under
  ``store.blob_dir`` (or the path); one host's directory.
- ``database``: :class:`DatabaseBlobStore`, the ``blobs`` table of the store's own database:
  every process of a node on one PostgreSQL reads what any of them stored. The default when
  the store is PostgreSQL; it still reads blobs an earlier version wrote to ``blob_dir``.
- ``s3://bucket/prefix?endpoint_url=…&region=…``: :class:`S3BlobStore`, any S3-compatible
  object store through aiobotocore (credentials from the usual ``AWS_*`` environment).

Keys are the SHA-256 of the content in every store, so storing the same bytes twice is a
no-op and a blob is complete or absent, never partial.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.errors import NotFound, StoreError
from gateway.ports import BlobStore
from gateway.store.blobs import FileBlobStore
from gateway.store.database import transaction, translate_errors
from gateway.store.models import Blob


class DatabaseBlobStore:
    """Blobs as rows of the ``blobs`` table of the store's database.

    ``transactional``: intake writes the blobs of a store batch inside that batch's own
    transaction (:meth:`put_many_in`, one multi-row statement), atomic with the messages
    that name them, instead of one transaction per blob before it.
    """

    transactional = True

    def __init__(self, engine: AsyncEngine, fallback: BlobStore | None = None) -> None:
        self.engine = engine
        self.fallback = fallback

    async def put(self, data: bytes) -> str:
        """Store ``data`` (committed before returning) and return its SHA-256 hex key."""
        key = hashlib.sha256(data).hexdigest()
        async with transaction(self.engine) as conn:
            await self.put_many_in(conn, {key: data})
        return key

    async def put_many_in(self, conn: AsyncConnection, blobs: Mapping[str, bytes]) -> None:
        """Insert blobs (key = SHA-256 hex of the bytes) in the caller's transaction."""
        if not blobs:
            return
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(Blob).on_conflict_do_nothing(index_elements=["key"])
        rows = [{"key": k, "size": len(v), "data": v} for k, v in blobs.items()]
        with translate_errors():
            await conn.execute(stmt, rows)

    async def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key`` (from the fallback store if not here)."""
        with translate_errors():
            async with self.engine.connect() as conn:
                data = (await conn.execute(select(Blob.data).where(Blob.key == key))).scalar()
        if data is not None:
            return bytes(data)
        if self.fallback is not None:
            return await self.fallback.get(key)
        raise NotFound(f"blob {key}")

    async def delete(self, key: str) -> None:
        """Remove the bytes of ``key`` (a takedown), here and in the fallback directory."""
        with translate_errors():
            async with transaction(self.engine) as conn:
                await conn.execute(sql_delete(Blob).where(Blob.key == key))
        if self.fallback is not None:
            await self.fallback.delete(key)


class S3BlobStore:
    """Blobs as objects ``<prefix><sha256>`` of one bucket of an S3-compatible store."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        from aiobotocore.session import get_session  # only with an S3 blob store

        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.region = region
        self._session = get_session()
        self._client: Any = None
        self._exit: contextlib.AsyncExitStack | None = None

    async def _s3(self) -> Any:
        if self._client is None:
            stack = contextlib.AsyncExitStack()
            self._client = await stack.enter_async_context(
                self._session.create_client(
                    "s3", endpoint_url=self.endpoint_url, region_name=self.region
                )
            )
            self._exit = stack
        return self._client

    async def put(self, data: bytes) -> str:
        """Store ``data`` as one object and return its SHA-256 hex key."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = hashlib.sha256(data).hexdigest()
        try:
            client = await self._s3()
            await client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StoreError(f"cannot write blob {key}: {exc}") from exc
        return key

    async def get(self, key: str) -> bytes:
        """Return the object stored under ``key``; ``NotFound`` when there is none."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client = await self._s3()
            answer = await client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            async with answer["Body"] as body:
                return bytes(await body.read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound(f"blob {key}") from exc
            raise StoreError(f"cannot read blob {key}: {exc}") from exc
        except (BotoCoreError, OSError) as exc:
            raise StoreError(f"cannot read blob {key}: {exc}") from exc

    async def delete(self, key: str) -> None:
        """Remove the object of ``key`` (a takedown); no error when it is already gone."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client = await self._s3()
            await client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StoreError(f"cannot remove blob {key}: {exc}") from exc

    async def close(self) -> None:
        """Close the S3 client."""
        stack, self._exit, self._client = self._exit, None, None
        if stack is not None:
            await stack.aclose()


@dataclass(frozen=True)
class BlobLocation:
    """Where the blobs of a node are, as ``store.blob_url`` decides it.

    ``kind``: ``file``, ``database`` or ``s3``; ``root``: the directory of blob files (the
    file store's own, or the directory the database store falls back to for blobs an
    earlier version wrote there; ``None`` for S3).
    """

    kind: str
    root: Path | None
    url: str


def blob_location(blob_url: str | None, blob_dir: Path, store_url: str) -> BlobLocation:
    """Resolve ``blob_url`` (``None``: database on PostgreSQL, else file) to its location."""
    if blob_url is None:
        blob_url = "database" if store_url.startswith("postgres") else "file"
    if blob_url == "file":
        return BlobLocation("file", Path(blob_dir), blob_url)
    if blob_url == "database":
        return BlobLocation("database", Path(blob_dir), blob_url)
    parts = urlsplit(blob_url)
    if parts.scheme == "file":
        return BlobLocation("file", Path(parts.path) if parts.path else Path(blob_dir), blob_url)
    if parts.scheme == "s3":
        return BlobLocation("s3", None, blob_url)
    raise ValueError(f"unknown blob store URL {blob_url!r} (file, database or s3://bucket)")


def open_blob_store(
    blob_url: str | None, blob_dir: Path, store_url: str, engine: AsyncEngine
) -> BlobStore:
    """Return the blob store ``blob_url`` names (``None``: database on PostgreSQL, else file)."""
    where = blob_location(blob_url, blob_dir, store_url)
    if where.kind == "file" and where.root is not None:
        return FileBlobStore(where.root)
    if where.kind == "database" and where.root is not None:
        return DatabaseBlobStore(engine, fallback=FileBlobStore(where.root))
    parts = urlsplit(where.url)
    if parts.scheme == "s3":
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        prefix = parts.path.lstrip("/")
        return S3BlobStore(
            parts.netloc,
            prefix + "/" if prefix and not prefix.endswith("/") else prefix,
            endpoint_url=query.get("endpoint_url"),
            region=query.get("region"),
        )
    raise ValueError(f"unknown blob store URL {blob_url!r} (file, database or s3://bucket)")


async def close_blob_store(store: BlobStore) -> None:
    """Release what the blob store holds (the S3 client)."""
    close = getattr(store, "close", None)
    if close is not None:
        await close()
