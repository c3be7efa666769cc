"""`edoc-gateway backup --to DIR` and `edoc-gateway restore --from DIR` (docs/operations.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from gateway.backup.restore import restore_backup
from gateway.backup.snapshot import create_backup, summary
from gateway.config import load_settings

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="gateway TOML file (else EDOC_ variables)")
]


def backup(
    to: Annotated[Path, typer.Option("--to", help="new, empty directory for this backup")],
    actor: Annotated[str, typer.Option("--actor", help="who backs up (audit)")] = "cli",
    config: ConfigOption = None,
) -> None:
    """Snapshot the store and the blobs it references while the node keeps running."""
    settings = load_settings(config)
    result = asyncio.run(
        create_backup(
            store_url=settings.store.url,
            blob_dir=settings.store.blob_dir,
            node_code=settings.node.code,
            directory=to,
            actor=actor,
            blob_url=settings.store.blob_url,
        )
    )
    figures = summary(result.manifest)
    typer.echo(json.dumps(figures, ensure_ascii=False))
    typer.echo(
        f"backup written to {result.directory}: {figures['messages']} messages, "
        f"{figures['blobs']} blobs, audit head {figures['audit_head']} / "
        f"đã sao lưu vào {result.directory}"
    )


def restore(
    from_: Annotated[Path, typer.Option("--from", help="backup directory to restore")],
    force: Annotated[
        bool, typer.Option("--force", help="replace a store that already holds data")
    ] = False,
    actor: Annotated[str, typer.Option("--actor", help="who restores (audit)")] = "cli",
    config: ConfigOption = None,
) -> None:
    """Check a backup, restore it into the configured store (node stopped), verify the audit
    chain and every blob, and put deliveries that were in flight back into the outbox."""
    settings = load_settings(config)
    report = asyncio.run(
        restore_backup(
            directory=from_,
            store_url=settings.store.url,
            blob_dir=settings.store.blob_dir,
            node_code=settings.node.code,
            force=force,
            actor=actor,
            blob_url=settings.store.blob_url,
        )
    )
    figures = {
        **summary(report.manifest),
        "audit_records": report.audit_records,
        "blobs_verified": report.blobs_verified,
        "requeued": report.requeued,
    }
    typer.echo(json.dumps(figures, ensure_ascii=False))
    typer.echo(
        f"restored and verified: audit chain intact ({report.audit_records} records), "
        f"{report.blobs_verified} blobs hash-checked, {report.requeued} deliveries requeued / "
        "đã khôi phục và kiểm tra: chuỗi nhật ký toàn vẹn"
    )


COMMANDS = {"backup": backup, "restore": restore}
