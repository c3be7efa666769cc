"""Backup and restore with every blob store (``gateway/backup/blobs.py``), SQLite and PostgreSQL.

``database``: the blobs travel in the dump, are hash-checked from the snapshot and come back
as rows (or as files for a target on the file store); an altered row fails the backup; blobs
an earlier version left in ``blob_dir`` are copied as files. ``file:///path``: the blobs are
read where that URL puts them. ``s3://``: refused, bilingual, before anything is written.
A taken-down message (its bytes removed by either store) does not fail a backup.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from gateway.backup.errors import BackupFailed, BackupUnsupported
from gateway.backup.restore import check_backup, restore_backup
from gateway.backup.snapshot import create_backup
from gateway.errors import NotFound
from gateway.legal.takedown import take_down
from gateway.store.blob_stores import DatabaseBlobStore, open_blob_store
from gateway.store.blobs import FileBlobStore
from gateway.store.database import create_engine, create_schema, transaction
from gateway.store.models import Blob
from tests.gateway.test_backup import NODE, fill, target_url

pytestmark = pytest.mark.integration


async def database_store(url: str, blob_dir: Path, count: int = 4) -> list[str]:
    """A store whose packets are rows of its ``blobs`` table; return the blob keys."""
    engine = create_engine(url)
    await create_schema(engine)
    try:
        await fill(engine, DatabaseBlobStore(engine, fallback=FileBlobStore(blob_dir)), count)
    finally:
        await engine.dispose()
    return [
        hashlib.sha256(f"<edXML>văn bản {n}</edXML>".encode()).hexdigest() for n in range(count)
    ]


def files_of(root: Path) -> set[str]:
    return {p.name for p in root.glob("*/*/*") if p.is_file()}


async def test_database_blobs_travel_in_the_dump_and_come_back(
    store_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    blob_dir, bk = tmp_path / "blobs", tmp_path / "bk"
    keys = await database_store(store_url, blob_dir)
    result = await create_backup(
        store_url=store_url, blob_dir=blob_dir, node_code=NODE, directory=bk, blob_url="database"
    )
    manifest = result.manifest
    assert manifest.blob_store == "database"
    assert sorted(manifest.blobs_in_store) == sorted(keys) == sorted(manifest.blobs)
    assert not files_of(bk / "blobs") and not files_of(blob_dir)
    assert check_backup(bk) == manifest

    target, target_blobs = target_url(store_url, tmp_path, request), tmp_path / "rb"
    report = await restore_backup(
        directory=bk,
        store_url=target,
        blob_dir=target_blobs,
        node_code=NODE,
        blob_url="database",
    )
    assert report.blobs_verified == 4 and not files_of(target_blobs)
    engine = create_engine(target)
    try:
        store = DatabaseBlobStore(engine)  # no fallback: the rows themselves came back
        for key in keys:
            assert hashlib.sha256(await store.get(key)).hexdigest() == key
    finally:
        await engine.dispose()


async def test_database_blobs_restored_onto_a_file_store_become_files(
    store_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    blob_dir, bk = tmp_path / "blobs", tmp_path / "bk"
    keys = await database_store(store_url, blob_dir)
    await create_backup(
        store_url=store_url, blob_dir=blob_dir, node_code=NODE, directory=bk, blob_url="database"
    )
    target_blobs = tmp_path / "restored-files"
    report = await restore_backup(
        directory=bk,
        store_url=target_url(store_url, tmp_path, request),
        blob_dir=tmp_path / "unused",
        node_code=NODE,
        blob_url=f"file://{target_blobs}",
    )
    assert report.blobs_verified == 4 and files_of(target_blobs) == set(keys)
    for key in keys:
        data = FileBlobStore(target_blobs).path_for(key).read_bytes()
        assert hashlib.sha256(data).hexdigest() == key


async def test_an_altered_or_missing_database_blob_fails_the_backup(
    store_url: str, tmp_path: Path
) -> None:
    blob_dir = tmp_path / "blobs"
    keys = await database_store(store_url, blob_dir)
    engine = create_engine(store_url)
    async with transaction(engine) as conn:
        await conn.execute(update(Blob).where(Blob.key == keys[1]).values(data=b"forged"))
    await engine.dispose()
    with pytest.raises(BackupFailed, match=f"{keys[1]} altered"):
        await create_backup(
            store_url=store_url,
            blob_dir=blob_dir,
            node_code=NODE,
            directory=tmp_path / "bk1",
            blob_url="database",
        )
    engine = create_engine(store_url)
    async with transaction(engine) as conn:
        await conn.execute(delete(Blob).where(Blob.key == keys[1]))
    await engine.dispose()
    with pytest.raises(BackupFailed, match=f"{keys[1]} missing"):
        await create_backup(
            store_url=store_url,
            blob_dir=blob_dir,
            node_code=NODE,
            directory=tmp_path / "bk2",
            blob_url="database",
        )


async def test_database_store_blobs_left_in_blob_dir_are_copied_as_files(
    store_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Rows for new packets, files for those an earlier version wrote (the store reads both)."""
    blob_dir, bk = tmp_path / "blobs", tmp_path / "bk"
    keys = await database_store(store_url, blob_dir, 4)
    engine = create_engine(store_url)
    store = DatabaseBlobStore(engine, fallback=FileBlobStore(blob_dir))
    for key in keys[:2]:  # as an earlier version stored them: files only
        await FileBlobStore(blob_dir).put(await store.get(key))
    async with transaction(engine) as conn:
        await conn.execute(delete(Blob).where(Blob.key.in_(keys[:2])))
    await engine.dispose()
    result = await create_backup(
        store_url=store_url, blob_dir=blob_dir, node_code=NODE, directory=bk, blob_url="database"
    )
    in_files = files_of(bk / "blobs")
    assert in_files == set(keys[:2]) and set(result.manifest.blobs_in_store) == set(keys[2:])
    report = await restore_backup(
        directory=bk,
        store_url=target_url(store_url, tmp_path, request),
        blob_dir=tmp_path / "rb",
        node_code=NODE,
        blob_url="database",
    )
    assert report.blobs_verified == 4 and files_of(tmp_path / "rb") == in_files


async def test_file_url_blobs_are_read_where_the_url_puts_them(
    store_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    elsewhere, bk = tmp_path / "elsewhere", tmp_path / "bk"
    engine = create_engine(store_url)
    await create_schema(engine)
    await fill(engine, FileBlobStore(elsewhere))
    await engine.dispose()
    url = f"file://{elsewhere}"
    result = await create_backup(
        store_url=store_url, blob_dir=tmp_path / "empty", node_code=NODE, directory=bk, blob_url=url
    )
    assert result.manifest.blob_store == "file" and not result.manifest.blobs_in_store
    assert files_of(bk / "blobs") == set(result.manifest.blobs) == files_of(elsewhere)
    report = await restore_backup(
        directory=bk,
        store_url=target_url(store_url, tmp_path, request),
        blob_dir=tmp_path / "unused",
        node_code=NODE,
        blob_url=f"file://{tmp_path / 'rb'}",
    )
    assert report.blobs_verified == 4 and files_of(tmp_path / "rb") == files_of(elsewhere)
    assert not (tmp_path / "unused").exists()


async def test_s3_blob_store_is_refused_before_anything_is_written(
    store_url: str, tmp_path: Path
) -> None:
    engine = create_engine(store_url)
    await create_schema(engine)
    await fill(engine, FileBlobStore(tmp_path / "blobs"))
    await engine.dispose()
    s3 = "s3://edoc-blobs/g22?endpoint_url=http://127.0.0.1:9"
    bk = tmp_path / "bk"
    with pytest.raises(BackupUnsupported) as refused:
        await create_backup(
            store_url=store_url,
            blob_dir=tmp_path / "blobs",
            node_code=NODE,
            directory=bk,
            blob_url=s3,
        )
    error = refused.value
    assert error.code == "BACKUP_BLOB_STORE_UNSUPPORTED"
    assert "S3" in error.message_vi and "S3" in error.message_en and "kho" in error.message_vi
    assert not bk.exists()
    await create_backup(
        store_url=store_url,
        blob_dir=tmp_path / "blobs",
        node_code=NODE,
        directory=bk,
        blob_url="file",
    )
    with pytest.raises(BackupUnsupported):
        await restore_backup(
            directory=bk,
            store_url=store_url,
            blob_dir=tmp_path / "rb",
            node_code=NODE,
            blob_url=s3,
            force=True,
        )


@pytest.mark.parametrize("blob_url", ["file", "database"])
async def test_a_taken_down_message_does_not_fail_the_backup(
    blob_url: str, store_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A takedown removes the bytes on purpose (both stores can): its key is not backed up."""
    blob_dir, bk = tmp_path / "blobs", tmp_path / "bk"
    engine = create_engine(store_url)
    await create_schema(engine)
    try:
        store = open_blob_store(blob_url, blob_dir, store_url, engine)
        ids = await fill(engine, store)
        stone = await take_down(engine, store, ids[0], actor="op", reason="court order 12/2026")
        assert stone.blob_removed
        gone = hashlib.sha256("<edXML>văn bản 0</edXML>".encode()).hexdigest()
        with pytest.raises(NotFound):
            await store.get(gone)
    finally:
        await engine.dispose()
    result = await create_backup(
        store_url=store_url, blob_dir=blob_dir, node_code=NODE, directory=bk, blob_url=blob_url
    )
    assert gone not in result.manifest.blobs and len(result.manifest.blobs) == 3
    assert result.manifest.tables["tombstones"] == 1
    report = await restore_backup(
        directory=bk,
        store_url=target_url(store_url, tmp_path, request),
        blob_dir=tmp_path / "rb",
        node_code=NODE,
        blob_url=blob_url,
    )
    assert report.blobs_verified == 3
