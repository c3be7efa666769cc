"""`edoc-gateway directory ...`: import, export, inspect and change the agency directory.

Every command works on the store named by ``--config FILE`` (``store.url``) or ``--store
URL``; changes are recorded with ``--actor`` and seen by running gateways within seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.commands.guard import fail
from gateway.directory import changes as ops
from gateway.directory.formats import FORMATS, guess_format, to_csv, to_json
from gateway.directory.live import SqlDirectory
from gateway.directory.records import certificate_rows, change_log
from gateway.directory.resolver import Endpoint, agency_to_record, normalize_code, parse_datetime
from gateway.directory.store import find_agency, load_agencies
from gateway.errors import CodeUnknown, GatewayError
from gateway.store.database import create_engine, create_schema

app = typer.Typer(
    help="Agency directory: import, export, resolve, lifecycle.", no_args_is_help=True
)

T = TypeVar("T")
Config = Annotated[Path | None, typer.Option("--config", "-c", help="gateway TOML file")]
Store = Annotated[str | None, typer.Option("--store", help="store URL (overrides --config)")]
Actor = Annotated[str, typer.Option("--actor", help="who makes the change (audit)")]
Reason = Annotated[str | None, typer.Option("--reason", help="why (audit)")]
Effective = Annotated[str | None, typer.Option("--effective", help="ISO date it takes effect")]


def _store_url(config: Path | None, store: str | None) -> str:
    if store:
        return store
    from gateway.config import load_settings

    return load_settings(config).store.url


def _run(config: Path | None, store: str | None, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(_store_url(config, store))
        try:
            await create_schema(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except GatewayError as exc:
        raise fail(exc) from exc


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _when(value: str | None) -> datetime | None:
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO date: {value}") from exc


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV, JSON or axis agency-list JSON")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv | json | axis")] = None,
    no_retire: Annotated[bool, typer.Option("--no-retire", help="keep absent agencies")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report, change nothing")] = False,
    config: Config = None,
    store: Store = None,
    actor: Actor = "cli",
    reason: Reason = None,
) -> None:
    """Import a catalogue as a diff (added, changed, retired), applied atomically."""
    data = file.read_bytes()
    fmt = fmt or guess_format(file.name, data)
    if fmt not in FORMATS:
        raise typer.BadParameter(f"format must be one of {', '.join(FORMATS)}")

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        parsed = ops.parse_import(data, fmt)
        result = await ops.import_agencies(
            engine,
            parsed,
            actor=actor,
            reason=reason,
            retire_missing=not no_retire,
            dry_run=dry_run,
        )
        return {"dry_run": dry_run, **result.summary()}

    _print(_run(config, store, work))


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="csv | json")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    config: Config = None,
    store: Store = None,
) -> None:
    """Export every agency (all statuses) as CSV or JSON."""

    async def work(engine: AsyncEngine) -> str:
        async with engine.connect() as conn:
            agencies = sorted(await load_agencies(conn), key=lambda a: a.code)
        return to_json(agencies) if fmt == "json" else to_csv(agencies)

    text = _run(config, store, work)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@app.command()
def show(code: str, config: Config = None, store: Store = None) -> None:
    """Show one agency (by new or old code), its certificates and its recent changes."""

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        async with engine.connect() as conn:
            agency = await find_agency(conn, code.strip().upper())
            if agency is None:
                raise CodeUnknown(code)
            certs = await certificate_rows(conn, agency.code)
            changes = await change_log(conn, code=agency.code, limit=20)
        for cert in certs:
            cert.pop("pem", None)
        return {**agency_to_record(agency), "certificate_details": certs, "changes": changes}

    _print(_run(config, store, work))


@app.command()
def resolve(code: str, config: Config = None, store: Store = None) -> None:
    """Resolve a code as the intake would: the live agency, its endpoint and the path."""

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        directory = SqlDirectory(engine)
        await directory.load()
        resolution = directory.resolve(code)
        return {
            "requested": code,
            "via": list(resolution.via),
            "agency": agency_to_record(resolution.agency),
        }

    _print(_run(config, store, work))


@app.command("set-endpoint")
def set_endpoint(
    code: str,
    kind: Annotated[str, typer.Option("--kind", help="mailbox | push | peer")],
    url: Annotated[str | None, typer.Option("--url")] = None,
    node: Annotated[str | None, typer.Option("--node")] = None,
    config: Config = None,
    store: Store = None,
    actor: Actor = "cli",
    reason: Reason = None,
) -> None:
    """Set where an agency's documents go."""
    if kind not in ("mailbox", "push", "peer"):
        raise typer.BadParameter("kind must be mailbox, push or peer")
    endpoint = Endpoint(kind, url, node)
    _print(
        agency_to_record(
            _run(
                config,
                store,
                lambda e: ops.set_endpoint(e, code, endpoint, actor=actor, reason=reason),
            )
        )
    )


@app.command("accepts-from")
def accepts_from(
    code: str,
    prefix: Annotated[list[str] | None, typer.Argument(help="sender code prefixes")] = None,
    config: Config = None,
    store: Store = None,
    actor: Actor = "cli",
) -> None:
    """Let the agency receive only from senders under these code prefixes (none: everyone)."""
    only = tuple(dict.fromkeys(normalize_code(p) for p in prefix or () if p.strip()))
    change = partial(replace, accepts_from=only)
    work = partial(ops.update_agency, code=code, change=change, action="accepts-from", actor=actor)
    _print(agency_to_record(_run(config, store, work)))


@app.command("bind-system")
def bind_system(
    code: str,
    system_id: str,
    unbind: Annotated[bool, typer.Option("--unbind", help="remove the binding")] = False,
    config: Config = None,
    store: Store = None,
    actor: Actor = "cli",
    reason: Reason = None,
) -> None:
    """Bind a calling system (QLVB) to an agency, or unbind it."""
    _print(
        agency_to_record(
            _run(
                config,
                store,
                lambda e: ops.bind_system(
                    e, code, system_id, actor=actor, unbind=unbind, reason=reason
                ),
            )
        )
    )


@app.command()
def retire(
    code: str,
    successor: Annotated[list[str] | None, typer.Option("--successor", help="repeatable")] = None,
    effective: Effective = None,
    config: Config = None,
    store: Store = None,
    actor: Actor = "cli",
    reason: Reason = None,
) -> None:
    """Dissolve an agency; its code is then refused, naming the successors given."""
    at = _when(effective)
    _print(
        agency_to_record(
            _run(
                config,
                store,
                lambda e: ops.dissolve(
                    e, code, successors=successor or [], actor=actor, at=at, reason=reason
                ),
            )
        )
    )


@app.command()
def rename(
    code: str,
    name: Annotated[str | None, typer.Option("--name")] = None,
    new_code: Annotated[str | None, typer.Option("--new-code")] = None,
    effective: Effective = None,
    config: Config = None,
    store: Store = None,
    actor: Actor = "cli",
    reason: Reason = None,
) -> None:
    """Rename an agency, optionally moving it to a new code (the old code redirects)."""
    at = _when(effective)
    _print(
        agency_to_record(
            _run(
                config,
                store,
                lambda e: ops.rename(
                    e, code, name=name, new_code=new_code, actor=actor, at=at, reason=reason
                ),
            )
        )
    )


@app.command()
def merge(
    codes: Annotated[list[str], typer.Argument(help="agencies merged away")],
    into: Annotated[str, typer.Option("--into", help="the agency that takes over")],
    effective: Effective = None,
    config: Config = None,
    store: Store = None,
    actor: Actor = "cli",
    reason: Reason = None,
) -> None:
    """Merge agencies into another; their codes resolve to it."""
    at = _when(effective)
    done = _run(
        config, store, lambda e: ops.merge(e, codes, into, actor=actor, at=at, reason=reason)
    )
    _print([agency_to_record(a) for a in done])


@app.command()
def split(
    code: str,
    into: Annotated[list[str], typer.Option("--into", help="repeatable, at least two")],
    effective: Effective = None,
    config: Config = None,
    store: Store = None,
    actor: Actor = "cli",
    reason: Reason = None,
) -> None:
    """Split an agency into several; its code is then refused, naming them."""
    at = _when(effective)
    _print(
        agency_to_record(
            _run(
                config, store, lambda e: ops.split(e, code, into, actor=actor, at=at, reason=reason)
            )
        )
    )


@app.command()
def suspend(
    codes: list[str],
    reactivate: Annotated[bool, typer.Option("--reactivate", help="make active again")] = False,
    config: Config = None,
    store: Store = None,
    actor: Actor = "cli",
    reason: Reason = None,
) -> None:
    """Suspend agencies (their codes are refused as inactive), or reactivate them."""
    status = "active" if reactivate else "suspended"
    done = _run(
        config, store, lambda e: ops.set_status(e, codes, status, actor=actor, reason=reason)
    )
    _print([a.code for a in done])


@app.command()
def inactive(
    days: Annotated[int, typer.Option("--days", min=1)] = 180,
    suspend_them: Annotated[bool, typer.Option("--suspend", help="suspend them")] = False,
    config: Config = None,
    store: Store = None,
    actor: Actor = "cli",
) -> None:
    """List live agencies without send/receive activity for ``--days`` days."""

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        idle = await ops.inactive(engine, days=days)
        suspended: list[str] = []
        if suspend_them and idle:
            reason = f"no activity for {days} days"
            done = await ops.set_status(
                engine, [c for c, _ in idle], "suspended", actor=actor, reason=reason
            )
            suspended = [a.code for a in done]
        return {
            "days": days,
            "count": len(idle),
            "agencies": [{"code": c, "last_activity": at} for c, at in idle],
            "suspended": suspended,
        }

    _print(_run(config, store, work))


@app.command()
def changes(
    code: Annotated[str | None, typer.Option("--code")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    config: Config = None,
    store: Store = None,
) -> None:
    """Show the latest directory change records (who, when, before, after)."""

    async def work(engine: AsyncEngine) -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            return await change_log(conn, code=code, limit=limit)

    _print(_run(config, store, work))


@app.command()
def sync(
    source: Annotated[
        str | None,
        typer.Option("--source", help="URL or file of the agency list (default: directory.url)"),
    ] = None,
    config: Config = None,
) -> None:
    """Synchronise the directory now from its source (the ``directory-sync`` duty)."""
    from gateway.commands.duties import sync_directory

    sync_directory(config, source)
