"""Benchmark of backup and restore (gateway/backup/) on a SQLite store.

Fills a store with ``--messages`` documents (a 20 KB blob each, two deliveries, one audit
record), then times ``create_backup`` and ``restore_backup`` (which re-hashes every blob and
verifies the whole audit chain), beside the ceiling of copying the same bytes with
``shutil.copytree``. The last line is exactly::

    backup-bench: messages=<n> mb=<m> backup_s=<x> restore_s=<y> copy_ceiling_s=<z>

    python bench/backup_bench.py [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.audit import chain as audit  # noqa: E402
from gateway.backup.restore import restore_backup  # noqa: E402
from gateway.backup.snapshot import create_backup  # noqa: E402
from gateway.store import repository as repo  # noqa: E402
from gateway.store.blobs import FileBlobStore  # noqa: E402
from gateway.store.database import create_engine, create_schema, transaction  # noqa: E402
from tests import store_rows  # noqa: E402

NODE = "000.00.00.G22"


async def fill(url: str, blobs: FileBlobStore, count: int) -> int:
    engine = create_engine(url)
    await create_schema(engine)
    total = 0
    for start in range(0, count, 200):
        async with transaction(engine) as conn:
            for n in range(start, min(start + 200, count)):
                raw = os.urandom(20_000)
                key = await blobs.put(raw)
                total += len(raw)
                now = datetime.now(UTC)
                msg = repo.NewMessage(
                    kind="document",
                    sender=NODE,
                    document_id=f"doc-{n}",
                    content_sha256=key,
                    blob_key=key,
                    size=len(raw),
                    caller_system="bench",
                    accepted_at=now,
                    legal_receipt_at=now,
                    signature_status="absent",
                )
                pair = [repo.NewDelivery("000.00.00.H41", "000.00.00.H41") for _ in range(2)]
                await store_rows.insert_message(conn, msg, pair)
                await audit.append(conn, event="received", actor="bench", message_id=msg.id)
    await engine.dispose()
    return total


async def main(count: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="edoc-backup-bench-"))
    try:
        url = f"sqlite:///{base / 'store.db'}"
        size = await fill(url, FileBlobStore(base / "blobs"), count)
        t0 = time.perf_counter()
        await create_backup(
            store_url=url, blob_dir=base / "blobs", node_code=NODE, directory=base / "bk"
        )
        backup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = await restore_backup(
            directory=base / "bk",
            store_url=f"sqlite:///{base / 'restored' / 'store.db'}",
            blob_dir=base / "restored-blobs",
            node_code=NODE,
        )
        restore_s = time.perf_counter() - t0
        assert report.blobs_verified == count
        t0 = time.perf_counter()
        shutil.copytree(base / "blobs", base / "copy")
        shutil.copyfile(base / "store.db", base / "copy.db")
        copy_s = time.perf_counter() - t0
        print(
            f"backup-bench: messages={count} mb={size / 2**20:.0f} backup_s={backup_s:.2f} "
            f"restore_s={restore_s:.2f} copy_ceiling_s={copy_s:.2f}"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    asyncio.run(main(parser.parse_args().messages))
