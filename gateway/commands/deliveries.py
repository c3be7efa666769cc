"""`edoc-gateway deliveries ...`: see parked deliveries, replay them, run a delivery worker."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import typer
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.app import delivery_transports
from gateway.commands.guard import fail
from gateway.config import load_settings
from gateway.delivery.broker import Broker
from gateway.delivery.outbox import task_for
from gateway.delivery.workers import DeliveryService, close_transports
from gateway.errors import GatewayError
from gateway.nodekey import load_key, uses_protected_key
from gateway.ops.duties import Scheduler
from gateway.ops.duties_builtin import outbox_duty
from gateway.store import bulk
from gateway.store import repository as repo
from gateway.store.blob_stores import close_blob_store, open_blob_store
from gateway.store.database import create_engine, create_schema, transaction

app = typer.Typer(help="Parked deliveries, replay, and a stand-alone delivery worker.")

CONFIG = typer.Option(None, "--config", "-c", help="TOML configuration file")


def _fail(exc: GatewayError) -> typer.Exit:
    return fail(exc)


async def _parked(store_url: str) -> list[repo.DeliveryRow]:
    engine = create_engine(store_url)
    try:
        await create_schema(engine)
        async with transaction(engine) as conn:
            return await repo.parked(conn)
    finally:
        await engine.dispose()


@app.command("parked")
def parked_command(
    config: Path = CONFIG,
    as_json: bool = typer.Option(False, "--json", help="print JSON lines"),
) -> None:
    """List deliveries that gave up (last retry step or permanent failure)."""
    settings = load_settings(config)
    try:
        rows = asyncio.run(_parked(settings.store.url))
    except GatewayError as exc:
        raise _fail(exc) from exc
    for row in rows:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "id": row.id,
                        "message_id": row.message_id,
                        "recipient": row.resolved_code,
                        "endpoint": row.endpoint_kind,
                        "attempts": row.attempts,
                        "last_error": row.last_error,
                        "updated_at": row.updated_at.isoformat(),
                    },
                    ensure_ascii=False,
                )
            )
        else:
            typer.echo(
                f"{row.id}  {row.resolved_code}  {row.endpoint_kind}  "
                f"attempts={row.attempts}  {row.updated_at:%Y-%m-%d %H:%M:%S}Z  {row.last_error}"
            )
    if not as_json:
        typer.echo(f"{len(rows)} parked deliveries")


async def replay(
    store_url: str,
    amqp_url: str,
    ladder: tuple[float, ...],
    ids: list[str] | None,
    prefix: str = "",
    shards: int = 1,
) -> list[str]:
    """Reset parked deliveries (``ids``, or all when ``None``) and publish them again
    (to the topology of ``prefix`` with ``shards`` per lane)."""
    engine = create_engine(store_url)
    broker = Broker(prefix, shards)
    try:
        await create_schema(engine)
        async with transaction(engine) as conn:
            wanted = ids if ids is not None else [r.id for r in await repo.parked(conn)]
            rows = await repo.reset_for_replay(conn, wanted)
            routes = await bulk.routes(conn, {r.message_id for r in rows})
        if rows:
            await broker.connect(amqp_url, ladder=ladder)
            await broker.publish([task_for(r.id, r.message_id, routes) for r in rows])
            async with transaction(engine) as conn:
                await repo.mark_published(conn, [r.id for r in rows])
        return [r.id for r in rows]
    finally:
        await broker.close()
        await engine.dispose()


@app.command("replay")
def replay_command(
    ids: list[str] = typer.Argument(None, help="delivery ids to resend"),
    all_: bool = typer.Option(False, "--all", help="resend every parked delivery"),
    config: Path = CONFIG,
) -> None:
    """Send parked deliveries again, from the first step of the retry ladder."""
    if bool(ids) == all_:
        typer.echo("give delivery ids or --all (not both)", err=True)
        raise typer.Exit(2)
    settings = load_settings(config)
    try:
        done = asyncio.run(
            replay(
                settings.store.url,
                settings.amqp.url,
                tuple(settings.amqp.retry_ladder),
                None if all_ else list(ids),
                settings.amqp.topology_prefix(settings.node.code),
                settings.amqp.delivery_shards,
            )
        )
    except GatewayError as exc:
        raise _fail(exc) from exc
    for delivery_id in done:
        typer.echo(f"replayed {delivery_id}")
    missing = set(ids or ()) - set(done)
    for delivery_id in sorted(missing):
        typer.echo(f"not parked: {delivery_id}", err=True)
    typer.echo(f"{len(done)} deliveries replayed")
    if missing:
        raise typer.Exit(1)


def _node_key(node: Any) -> Any:
    if uses_protected_key(node):
        return load_key(node)
    path = node.key_file
    if path is not None and path.is_file():
        key: Any = load_pem_private_key(path.read_bytes(), password=None)
        return key  # type: ignore[no-any-return]
    return ec.generate_private_key(ec.SECP256R1())


async def run_worker(
    *,
    store_url: str,
    amqp_url: str,
    blob_dir: Path,
    ladder: tuple[float, ...],
    prefetch: int,
    node_key: Any,
    node_code: str,
    sweep_interval_s: float,
    sweep_older_than_s: float,
    prefix: str | None = None,
    blob_url: str | None = None,
    shards: int = 1,
) -> None:
    """Run delivery workers and the outbox sweep until SIGTERM or SIGINT (``prefix``: the
    topology namespace, by default ``node_code``; ``blob_url``: see ``store.blob_url``;
    ``shards``: work queues per lane)."""
    engine = create_engine(store_url)
    await create_schema(engine)
    broker = Broker(node_code if prefix is None else prefix, shards)
    await broker.connect(amqp_url, prefetch=prefetch, ladder=ladder)
    transports = delivery_transports(node_key=node_key, node_code=node_code)
    blobs = open_blob_store(blob_url, blob_dir, store_url, engine)
    service = DeliveryService(engine, blobs, broker, transports)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    # The outbox sweep is a scheduled duty: one process of the cluster runs it per interval.
    sweeper = Scheduler(engine, [outbox_duty(engine, broker, sweep_interval_s, sweep_older_than_s)])
    await sweeper.start()
    print("delivery worker ready", flush=True)
    try:
        await stop.wait()
    finally:
        await sweeper.close()
        await service.stop()
        await broker.close()
        await close_transports(transports)
        await close_blob_store(blobs)
        await engine.dispose()


@app.command("worker")
def worker_command(
    config: Path = CONFIG,
    store: str = typer.Option(None, help="store URL (default: from the configuration)"),
    amqp: str = typer.Option(None, help="AMQP URL (default: from the configuration)"),
    blobs: Path = typer.Option(None, help="blob directory (default: from the configuration)"),
    ladder: str = typer.Option(None, help="retry ladder in seconds, e.g. 1,5,30"),
    sweep_interval: float = typer.Option(None, help="seconds between outbox sweeps"),
    sweep_older_than: float = typer.Option(None, help="republish pending rows older than this"),
) -> None:
    """Run delivery workers only (no HTTP service): consume, deliver, sweep the outbox."""
    settings = load_settings(config)
    steps = (
        tuple(float(s) for s in ladder.split(",") if s.strip())
        if ladder
        else tuple(settings.amqp.retry_ladder)
    )
    try:
        asyncio.run(
            run_worker(
                store_url=store or settings.store.url,
                amqp_url=amqp or settings.amqp.url,
                blob_dir=blobs or settings.store.blob_dir,
                ladder=steps,
                prefetch=settings.amqp.prefetch,
                node_key=_node_key(settings.node),
                node_code=settings.node.code,
                sweep_interval_s=sweep_interval or settings.amqp.outbox_interval_s,
                sweep_older_than_s=(
                    sweep_older_than
                    if sweep_older_than is not None
                    else settings.amqp.outbox_older_than_s
                ),
                prefix=settings.amqp.topology_prefix(settings.node.code),
                blob_url=settings.store.blob_url,
                shards=settings.amqp.delivery_shards,
            )
        )
    except GatewayError as exc:
        raise _fail(exc) from exc


@app.command("list")
def list_command(
    config: Path = CONFIG,
    parked: bool = typer.Option(False, "--parked", help="the parked deliveries"),
    as_json: bool = typer.Option(False, "--json", help="print JSON lines"),
) -> None:
    """List deliveries: with ``--parked`` the ones that gave up (same as ``parked``)."""
    if not parked:
        typer.echo(
            "Hãy dùng --parked (chỉ liệt kê được các chuyển phát đã dừng). / "
            "Use --parked (only parked deliveries can be listed).",
            err=True,
        )
        raise typer.Exit(2)
    parked_command(config=config, as_json=as_json)
