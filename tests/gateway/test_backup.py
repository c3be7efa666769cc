"""Backup and restore of a store (gateway/backup/), SQLite and PostgreSQL.

A small store is filled through the repository and the audit module, backed up, and
restored into an empty store; then every kind of damage or mismatch is refused before the
target is touched.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import chain as audit
from gateway.backup.errors import (
    BackupDamaged,
    BackupFailed,
    BackupMismatch,
    RestoreTargetNotEmpty,
    RestoreVerifyFailed,
)
from gateway.backup.restore import check_backup, restore_backup
from gateway.backup.snapshot import MANIFEST, SUMS, create_backup
from gateway.store import repository as repo
from gateway.store.blobs import FileBlobStore
from gateway.store.database import create_engine, create_schema, transaction
from gateway.store.models import Delivery
from tests import store_rows

pytestmark = pytest.mark.integration

NODE = "000.00.00.G22"
H1, H2 = "000.00.00.H41", "000.00.00.H14"


async def fill(engine: AsyncEngine, blobs: FileBlobStore, count: int = 4) -> list[str]:
    """Store ``count`` messages with blobs, deliveries in several states and audit records."""
    ids = []
    for n in range(count):
        raw = f"<edXML>văn bản {n}</edXML>".encode()
        key = await blobs.put(raw)
        now = datetime.now(UTC)
        msg = repo.NewMessage(
            kind="document",
            sender=NODE,
            document_id=f"doc-{n}",
            content_sha256=key,
            blob_key=key,
            size=len(raw),
            caller_system="qlvb",
            accepted_at=now,
            legal_receipt_at=now + timedelta(hours=1),
            signature_status="absent",
        )
        deliveries = [repo.NewDelivery(H1, H1), repo.NewDelivery(H2, H2)]
        async with transaction(engine) as conn:
            await store_rows.insert_message(conn, msg, deliveries)
            await audit.append(conn, event="received", actor="qlvb", message_id=msg.id)
            await repo.mark_published(conn, [d.id for d in deliveries])
            if n % 2 == 0:
                await store_rows.mark_delivered(conn, deliveries[0].id)
        ids.append(msg.id)
    return ids


@pytest.fixture
async def source(store_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, Path, list[str]]]:
    engine = create_engine(store_url)
    await create_schema(engine)
    blob_dir = tmp_path / "blobs"
    ids = await fill(engine, FileBlobStore(blob_dir))
    await engine.dispose()
    yield store_url, blob_dir, ids


def target_url(store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored' / 'store.db'}"
    return str(request.getfixturevalue("postgres_server").create_database())


async def states(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(Delivery.id, Delivery.state))
            return {r[0]: r[1] for r in rows}
    finally:
        await engine.dispose()


async def test_backup_then_restore_into_an_empty_store(
    source: tuple[str, Path, list[str]], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url, blob_dir, _ = source
    before = await states(url)
    result = await create_backup(
        store_url=url, blob_dir=blob_dir, node_code=NODE, directory=tmp_path / "bk"
    )
    manifest = result.manifest
    assert manifest.tables["messages"] == 4 and manifest.tables["deliveries"] == 8
    assert manifest.audit_head_seq == 4 and len(manifest.blobs) == 4
    assert manifest.in_flight == 6  # 8 deliveries, 2 delivered
    assert check_backup(tmp_path / "bk") == manifest
    engine = create_engine(url)
    async with engine.connect() as conn:
        recorded = (await audit.entries(conn))[-1]
    await engine.dispose()
    assert recorded.event == "backup.created" and recorded.seq == manifest.audit_head_seq + 1
    assert recorded.detail is not None and recorded.detail["messages"] == 4

    target, target_blobs = target_url(url, tmp_path, request), tmp_path / "restored-blobs"
    report = await restore_backup(
        directory=tmp_path / "bk", store_url=target, blob_dir=target_blobs, node_code=NODE
    )
    assert report.requeued == 6 and report.blobs_verified == 4 and report.audit_records == 4
    after = await states(target)
    assert after.keys() == before.keys()
    for delivery_id, state in before.items():
        assert after[delivery_id] == ("pending" if state == "published" else state)
    engine = create_engine(target)
    async with engine.connect() as conn:
        assert await audit.verify_chain(conn) == []
        last = (await audit.entries(conn))[-1]
    await engine.dispose()
    assert last.event == "store.restored" and last.detail == {
        "backup_created_at": manifest.created_at,
        "audit_head": 4,
        "messages": 4,
        "requeued": 6,
    }
    for key in manifest.blobs:
        assert FileBlobStore(target_blobs).path_for(key).is_file()

    with pytest.raises(RestoreTargetNotEmpty):
        await restore_backup(
            directory=tmp_path / "bk", store_url=target, blob_dir=target_blobs, node_code=NODE
        )
    forced = await restore_backup(
        directory=tmp_path / "bk",
        store_url=target,
        blob_dir=target_blobs,
        node_code=NODE,
        force=True,
    )
    assert forced.audit_records == 4  # the first restore's record is replaced, not chained


def _damage_blob(bk: Path) -> None:
    manifest = json.loads((bk / MANIFEST).read_text())
    key = sorted(manifest["blobs"])[0]
    path = bk / "blobs" / key[:2] / key[2:4] / key
    path.write_bytes(path.read_bytes() + b"x")


def _damage_dump(bk: Path) -> None:
    dump = next(p for p in bk.iterdir() if p.name.startswith("store."))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))


def _edit_manifest(bk: Path) -> None:
    manifest = json.loads((bk / MANIFEST).read_text())
    manifest["tables"]["messages"] = 3
    (bk / MANIFEST).write_text(json.dumps(manifest))


DAMAGE = {
    "blob altered": _damage_blob,
    "blob removed": lambda bk: shutil.rmtree(bk / "blobs"),
    "dump altered": _damage_dump,
    "manifest edited": _edit_manifest,
    "sums removed": lambda bk: (bk / SUMS).unlink(),
    "manifest removed": lambda bk: (bk / MANIFEST).unlink(),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=str)
async def test_a_damaged_backup_is_refused_before_anything_is_touched(
    source: tuple[str, Path, list[str]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    damage: str,
) -> None:
    url, blob_dir, _ = source
    bk = tmp_path / "bk"
    await create_backup(store_url=url, blob_dir=blob_dir, node_code=NODE, directory=bk)
    DAMAGE[damage](bk)
    target, target_blobs = target_url(url, tmp_path, request), tmp_path / "restored-blobs"
    with pytest.raises(BackupDamaged) as refused:
        await restore_backup(directory=bk, store_url=target, blob_dir=target_blobs, node_code=NODE)
    assert refused.value.code == "BACKUP_DAMAGED" and refused.value.text_vi
    assert not target_blobs.exists()
    if target.startswith("sqlite"):
        assert not Path(target.split(":///", 1)[1]).exists()


async def test_a_backup_of_another_node_or_store_kind_is_refused(
    source: tuple[str, Path, list[str]], tmp_path: Path
) -> None:
    url, blob_dir, _ = source
    bk = tmp_path / "bk"
    await create_backup(store_url=url, blob_dir=blob_dir, node_code=NODE, directory=bk)
    other = "sqlite:///" + str(tmp_path / "other.db")
    if url.startswith("sqlite"):
        other = "postgresql://postgres@127.0.0.1:1/none"
    with pytest.raises(BackupMismatch, match="node"):
        await restore_backup(
            directory=bk, store_url=other, blob_dir=tmp_path / "b2", node_code="000.00.00.H41"
        )
    with pytest.raises(BackupMismatch, match="store"):
        await restore_backup(
            directory=bk, store_url=other, blob_dir=tmp_path / "b2", node_code=NODE
        )


async def test_backup_refuses_a_used_directory_and_a_missing_blob(
    source: tuple[str, Path, list[str]], tmp_path: Path
) -> None:
    url, blob_dir, _ = source
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("x")
    with pytest.raises(BackupFailed, match="not empty"):
        await create_backup(store_url=url, blob_dir=blob_dir, node_code=NODE, directory=used)
    victim = next(p for p in blob_dir.rglob("*") if p.is_file())
    victim.unlink()
    with pytest.raises(BackupFailed, match="1 referenced blob"):
        await create_backup(
            store_url=url, blob_dir=blob_dir, node_code=NODE, directory=tmp_path / "bk"
        )


async def test_restore_refuses_a_store_whose_audit_chain_was_altered(
    source: tuple[str, Path, list[str]], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A backup taken of an already tampered store restores, then fails verification."""
    url, blob_dir, _ = source
    engine = create_engine(url)
    async with transaction(engine) as conn:
        table = audit.AuditRecord.__table__
        await conn.execute(update(table).where(table.c.seq == 2).values(actor="mallory"))
    await engine.dispose()
    bk = tmp_path / "bk"
    await create_backup(store_url=url, blob_dir=blob_dir, node_code=NODE, directory=bk)
    target = target_url(url, tmp_path, request)
    with pytest.raises(RestoreVerifyFailed, match="seq 2"):
        await restore_backup(
            directory=bk, store_url=target, blob_dir=tmp_path / "rb", node_code=NODE
        )


async def test_restore_into_a_store_with_an_empty_schema_needs_no_force(
    source: tuple[str, Path, list[str]], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A node started once on the new machine has created its tables: still empty."""
    url, blob_dir, ids = source
    bk = tmp_path / "bk"
    await create_backup(store_url=url, blob_dir=blob_dir, node_code=NODE, directory=bk)
    target = target_url(url, tmp_path, request)
    if target.startswith("sqlite"):
        Path(target.split(":///", 1)[1]).parent.mkdir(parents=True)
    engine = create_engine(target)
    await create_schema(engine)
    await engine.dispose()
    report = await restore_backup(
        directory=bk, store_url=target, blob_dir=tmp_path / "rb", node_code=NODE
    )
    assert report.manifest.tables["messages"] == len(ids) and report.audit_records == len(ids)
