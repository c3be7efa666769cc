"""Content-addressed blob storage (gateway/store/blobs.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway.errors import NotFound
from gateway.store.blobs import FileBlobStore


async def test_put_returns_sha256_and_get_returns_the_bytes(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    data = "Công văn số 1".encode() * 1000
    key = await blobs.put(data)
    assert key == hashlib.sha256(data).hexdigest()
    assert await blobs.get(key) == data
    assert blobs.path_for(key).is_file()


async def test_put_is_idempotent_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    assert await blobs.put(b"x") == await blobs.put(b"x")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1 and not files[0].name.startswith(".tmp-")


async def test_a_truncated_blob_is_rewritten(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    key = await blobs.put(b"complete content")
    blobs.path_for(key).write_bytes(b"compl")  # as if an older writer had crashed
    await blobs.put(b"complete content")
    assert await blobs.get(key) == b"complete content"


async def test_unknown_and_malformed_keys_are_not_found(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    with pytest.raises(NotFound):
        await blobs.get("0" * 64)
    with pytest.raises(NotFound):
        await blobs.get("../../etc/passwd")


def test_blob_store_is_chosen_by_url(tmp_path: Path) -> None:
    from gateway.store.blob_stores import DatabaseBlobStore, S3BlobStore, open_blob_store
    from gateway.store.database import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 's.db'}")
    sqlite, pg = f"sqlite:///{tmp_path / 's.db'}", "postgresql://u@h/db"
    default = open_blob_store(None, tmp_path / "b", sqlite, engine)
    assert isinstance(default, FileBlobStore) and default.root == tmp_path / "b"
    named = open_blob_store("file", tmp_path / "b", pg, engine)
    assert isinstance(named, FileBlobStore) and named.root == tmp_path / "b"
    other = open_blob_store(f"file://{tmp_path / 'x'}", tmp_path / "b", sqlite, engine)
    assert isinstance(other, FileBlobStore) and other.root == tmp_path / "x"
    assert isinstance(open_blob_store(None, tmp_path / "b", pg, engine), DatabaseBlobStore)
    s3 = open_blob_store("s3://bucket/p?endpoint_url=http://h:9&region=r", tmp_path, pg, engine)
    assert isinstance(s3, S3BlobStore)
    assert (s3.bucket, s3.prefix, s3.endpoint_url, s3.region) == ("bucket", "p/", "http://h:9", "r")
    with pytest.raises(ValueError):
        open_blob_store("ftp://x", tmp_path, sqlite, engine)


async def test_concurrent_puts_are_written_in_one_batch_with_one_fsync_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import os

    blobs = FileBlobStore(tmp_path)
    calls: list[int] = []
    original = blobs._write_many

    def counted(batch):  # type: ignore[no-untyped-def]
        calls.append(len(batch))
        return original(batch)

    blobs._batch._write_many = counted
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    await blobs.put(b"first")  # alone: nothing else was queued
    datas = [f"Công văn {i}".encode() for i in range(20)] + [b"first"]
    keys = await asyncio.gather(*(blobs.put(d) for d in datas))
    assert calls == [1, 21]  # one trip for the 21 concurrent puts (one was already there)
    for key, data in zip(keys, datas, strict=True):
        assert await blobs.get(key) == data
    # each new file once, each directory once: no fsync twice for the same thing
    assert len(synced) <= 2 + 2 * 20


async def test_one_failed_blob_fails_only_its_own_put(tmp_path: Path) -> None:
    import asyncio

    from gateway.errors import StoreError

    blobs = FileBlobStore(tmp_path)
    bad = b"this one cannot be written"
    key = hashlib.sha256(bad).hexdigest()
    blocked = blobs.path_for(key).parent
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_bytes(b"a file where its directory should be")
    results = await asyncio.gather(
        blobs.put(b"good one"), blobs.put(bad), blobs.put(b"good two"), return_exceptions=True
    )
    assert isinstance(results[1], StoreError)
    assert await blobs.get(str(results[0])) == b"good one"
    assert await blobs.get(str(results[2])) == b"good two"
