"""`edoc-gateway duties list|run NAME`: the scheduled duties, their last and next runs.

``list`` prints every duty's interval, last run, last result and next due time, as the
cluster recorded them in the store (whichever process ran them). ``run NAME`` runs one duty
now in this process and records its result in the same place (the schedule is unchanged);
it exits 1 when the duty fails. ``directory sync`` is ``duties run directory-sync``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from gateway.commands.systems import cli_logging
from gateway.config import Settings
from gateway.credentials.setup import open_systems_store
from gateway.directory.sync import DirectorySource
from gateway.errors import GatewayError
from gateway.ops.duties import DutyLeases, default_owner, run_duty
from gateway.ops.duties_builtin import NAMES, build_duties, directory_source
from gateway.store.database import create_engine, create_schema

app = typer.Typer(help="Scheduled duties: list them, run one now.", no_args_is_help=True)

Config = Annotated[Path | None, typer.Option("--config", "-c", help="gateway TOML file")]


def _fail(code: str, english: str, vietnamese: str) -> typer.Exit:
    typer.echo(f"{code}: {vietnamese} / {english}", err=True)
    return typer.Exit(1)


def _settings(config: Path | None) -> Settings:
    from gateway.config import load_settings

    try:
        settings = load_settings(config)
    except (FileNotFoundError, ValidationError) as exc:
        raise _fail("CONFIG_INVALID", str(exc), "Cấu hình không hợp lệ") from exc
    cli_logging()
    return settings


def _intervals(settings: Settings) -> dict[str, float]:
    cfg = settings.duties
    return {
        "directory-sync": cfg.directory_sync_interval_s,
        "inactivity": cfg.inactivity_interval_s,
        "certificates": cfg.certificates_interval_s,
        "audit-verify": cfg.audit_verify_interval_s,
        "outbox-sweep": settings.amqp.outbox_interval_s,
    }


def _run(work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    try:
        return asyncio.run(work())
    except GatewayError as exc:
        raise _fail(exc.code, exc.text_en, exc.text_vi) from exc


@app.command("list")
def list_(
    config: Config = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List every duty: interval, last run and result, next run."""
    settings = _settings(config)

    async def work() -> list[dict[str, Any]]:
        engine = create_engine(settings.store.url)
        try:
            await create_schema(engine)
            states = await DutyLeases(engine).states()
        finally:
            await engine.dispose()
        rows = []
        for name, interval in _intervals(settings).items():
            state = states.get(name)
            row = state.as_dict() if state else {"name": name, "last_run": None, "runs": 0}
            rows.append({**row, "interval_s": interval})
        return rows

    rows = _run(work)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        result = {None: "never run", True: "ok", False: "FAILED"}[row.get("last_ok")]
        typer.echo(
            f"{row['name']:<15} every {row['interval_s']:>8.0f} s  {result:<9}  "
            f"last {row.get('last_run') or '-'}  next {row.get('next_run') or '-'}  "
            f"{row.get('last_result') or ''}"
        )


def source_for(settings: Settings) -> tuple[DirectorySource | None, Any]:
    """The directory-sync source of ``settings`` and its closer (``None`` when none)."""
    if settings.directory.url == "upstream":
        from gateway.app import upstream_directory_source

        make = upstream_directory_source(settings)
        return make() if make is not None else (None, None)
    return directory_source(settings), None


async def run_named(settings: Settings, name: str, source: DirectorySource | None = None) -> str:
    """Run the duty ``name`` now with resources opened here; return its result text or
    raise ``typer.Exit`` (1) when it fails or cannot run in this configuration."""
    async with AsyncExitStack() as stack:
        engine = create_engine(settings.store.url)
        stack.push_async_callback(engine.dispose)
        await create_schema(engine)
        broker = None
        if name == "outbox-sweep":
            from gateway.delivery.broker import Broker

            amqp = settings.amqp
            broker = Broker(amqp.topology_prefix(settings.node.code), amqp.delivery_shards)
            await broker.connect(settings.amqp.url, prefetch=1, ladder=settings.amqp.retry_ladder)
            stack.push_async_callback(broker.close)
        if source is None and name == "directory-sync":
            source, closer = source_for(settings)
            if closer is not None:
                stack.push_async_callback(closer)
        duties = build_duties(
            settings,
            engine=engine,
            systems=await open_systems_store(settings, engine) if name == "inactivity" else None,
            broker=broker,
            source=source,
        )
        duty = next((d for d in duties if d.name == name), None)
        if duty is None:
            raise _fail(
                "DUTY_UNAVAILABLE",
                f"{name} cannot run with this configuration (no source or broker)",
                f"Không thể chạy {name} với cấu hình này (thiếu nguồn hoặc broker)",
            )
        ok, result = await run_duty(duty, DutyLeases(engine), f"cli:{default_owner()}")
    if not ok:
        raise _fail("DUTY_FAILED", f"{name} failed: {result}", f"{name} thất bại: {result}")
    return result


@app.command()
def run(
    name: Annotated[str, typer.Argument(metavar="NAME", help=" | ".join(NAMES))],
    config: Config = None,
) -> None:
    """Run one duty now (also recorded as its last run)."""
    if name not in NAMES:
        raise _fail(
            "DUTY_UNKNOWN",
            f"no duty {name!r}; duties: {', '.join(NAMES)}",
            f"Không có nhiệm vụ {name!r}; các nhiệm vụ: {', '.join(NAMES)}",
        )
    settings = _settings(config)
    typer.echo(f"{name}: {_run(lambda: run_named(settings, name))}")


def sync_directory(config: Path | None, source_path: str | None) -> None:
    """``directory sync``: run the directory-sync duty, from ``source_path`` if given."""
    settings = _settings(config)
    source = None
    if source_path:
        source = directory_source(
            settings.model_copy(
                update={"directory": settings.directory.model_copy(update={"url": source_path})}
            )
        )
    typer.echo(f"directory-sync: {_run(lambda: run_named(settings, 'directory-sync', source))}")
