"""`edoc-gateway messages …`: stored messages, for the operator on a gateway host.

- ``takedown ID --reason TEXT`` removes a stored document: the packet's bytes leave the
  blob store, every delivery is withdrawn from the recipients' inboxes, a tombstone and an
  audit record stay, and every later fetch answers ``MESSAGE_GONE``.
- ``trace ID`` prints what the core's trace shows (``gateway.core.operations.load_trace``): the
  per-recipient deliveries, the status history and the hops a relayed message passed.

Both run with the node's configuration; the operator is the admin.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path

import typer

from gateway.config import load_settings
from gateway.core.operations import load_trace
from gateway.core.views import Trace
from gateway.errors import GatewayError, NotFound
from gateway.legal.takedown import Tombstone, take_down
from gateway.store import repository as repo
from gateway.store.blobs import FileBlobStore
from gateway.store.database import create_engine, create_schema

app = typer.Typer(help="Stored messages: trace, takedown.")

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


async def _trace(config: Path | None, message_id: str) -> Trace:
    settings = load_settings(config)
    engine = create_engine(settings.store.url)
    try:
        await create_schema(engine)  # an older store gains the hop table (additive)
        async with engine.connect() as conn:
            message = await repo.get_message(conn, message_id)
            if message is None:
                raise NotFound(message_id)
            deliveries = await repo.deliveries_for(conn, message_id)
            return await load_trace(conn, message, deliveries)
    finally:
        await engine.dispose()


def _trace_lines(trace: Trace) -> list[str]:
    m = trace.message
    lines = [
        f"message / văn bản: {m.id} {m.kind} {m.document_id}",
        f"  sender / nơi gửi: {m.sender}  accepted / tiếp nhận: {m.accepted_at.isoformat()}  "
        f"signature / chữ ký: {m.signature_status}",
        "hops / các chặng đi qua:" if trace.hops else "hops / các chặng đi qua: —",
    ]
    for i, hop in enumerate(trace.hops, 1):
        lines.append(
            f"  {i}. {hop.node}  received / nhận: {hop.received_at or '—'}  "
            f"forwarded / chuyển: {hop.forwarded_at or '—'}  "
            f"reported by / báo bởi: {hop.reported_by} ({hop.via})"
        )
    lines.append("deliveries / chuyển phát:" if trace.deliveries else "deliveries / chuyển phát: —")
    for d in trace.deliveries:
        lines.append(
            f"  {d.resolved_code} via {d.endpoint}: {d.state} (attempts / lần thử {d.attempts})"
        )
    lines.append("statuses / trạng thái:" if trace.statuses else "statuses / trạng thái: —")
    for s in trace.statuses:
        lines.append(f"  {s.at.isoformat()} {s.recipient_code} {s.status_code}")
    return lines


@app.command("trace")
def trace_command(
    message_id: str = typer.Argument(..., help="message id (from the receipt)"),
    config: Path = CONFIG,
    as_json: bool = typer.Option(False, "--json", help="print the trace as JSON"),
) -> None:
    """Show a stored message's deliveries, statuses and the hops it passed."""
    try:
        trace = asyncio.run(_trace(config, message_id))
    except NotFound as exc:  # store failures are the guard's (gateway.commands.guard)
        typer.echo(f"{exc.code}: {exc.text_en} / {exc.text_vi}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(trace.as_dict(), ensure_ascii=False))
    else:
        typer.echo("\n".join(_trace_lines(trace)))
