"""`edoc-gateway messages takedown ID --reason TEXT`: remove a stored document (operator).

Run on a gateway host with its configuration (the operator is the admin): the packet's
bytes leave the blob store, every delivery is withdrawn from the recipients' inboxes, a
tombstone and an audit record stay, and every later fetch answers ``MESSAGE_GONE``.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path

import typer

from gateway.config import load_settings
from gateway.errors import GatewayError
from gateway.legal.takedown import Tombstone, take_down
from gateway.store.blobs import FileBlobStore
from gateway.store.database import create_engine, create_schema

app = typer.Typer(help="Stored messages: takedown.")

CONFIG = typer.Option(None, "--config", "-c", help="TOML configuration file")


async def _take_down(config: Path | None, message_id: str, actor: str, reason: str) -> Tombstone:
    settings = load_settings(config)
    engine = create_engine(settings.store.url)
    try:
        await create_schema(engine)
        blobs = FileBlobStore(settings.store.blob_dir)
        return await take_down(engine, blobs, message_id, actor=actor, reason=reason)
    finally:
        await engine.dispose()


@app.command("takedown")
def takedown_command(
    message_id: str = typer.Argument(..., help="message id (from the receipt or the trace)"),
    reason: str = typer.Option(..., "--reason", help="why (kept in the tombstone and audit)"),
    config: Path = CONFIG,
    as_json: bool = typer.Option(False, "--json", help="print the tombstone as JSON"),
) -> None:
    """Take a stored document down: bytes removed, inboxes withdrawn, tombstone kept."""
    if not reason.strip():
        typer.echo("error: --reason is required / cần nêu lý do (--reason)", err=True)
        raise typer.Exit(2)
    actor = f"cli:{getpass.getuser()}"
    try:
        stone = asyncio.run(_take_down(config, message_id, actor, reason.strip()))
    except GatewayError as exc:
        typer.echo(f"{exc.code}: {exc.text_en} / {exc.text_vi}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(stone.as_dict(), ensure_ascii=False))
    else:
        typer.echo(
            f"taken down / đã gỡ bỏ: {stone.message_id} ({stone.document_id}) "
            f"sha256={stone.content_sha256} by {stone.taken_down_by} at "
            f"{stone.taken_down_at.isoformat()}"
        )
    if not stone.blob_removed:
        typer.echo("error: the packet bytes could not be removed / không xóa được tệp", err=True)
        raise typer.Exit(1)
