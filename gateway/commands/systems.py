"""`edoc-gateway systems ...`: calling systems (QLVB) and their secrets, in the store.

``add ID --agencies A,B [--profile strict|sdk] [--secret-stdin]`` creates a system (a secret
is generated and printed once unless one is read from stdin), ``rotate ID [--secret-stdin]
[--overlap-days N]`` gives it a new secret while the previous one keeps working for the
overlap, ``disable`` / ``enable`` switch it, ``list`` / ``show`` print it (never a secret),
``revoke-token TOKEN`` (or ``revoke-token ID --system S``) revokes one bearer token.
Every running gateway sees a change within seconds. The store and the credentials key come
from ``--config`` (``store.url``, ``[credentials]``) and the ``EDOC_`` environment.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from gateway.credentials.registry import IssuedSecret, SystemSpec, SystemView
from gateway.credentials.setup import open_systems_store
from gateway.credentials.store import SystemsStore
from gateway.errors import GatewayError
from gateway.logging import configure_logging
from gateway.store.database import create_engine, create_schema

app = typer.Typer(help="Calling systems: add, rotate, disable, enable, list.", no_args_is_help=True)

T = TypeVar("T")
Config = Annotated[Path | None, typer.Option("--config", "-c", help="gateway TOML file")]
Actor = Annotated[str, typer.Option("--actor", help="who makes the change (audit)")]
SecretStdin = Annotated[
    bool, typer.Option("--secret-stdin", help="read the secret from stdin instead of generating")
]


class _Stderr:
    """Standard error looked up at each write (a test runner swaps and closes sys.stderr)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def cli_logging() -> None:
    """Log warnings and errors only, as JSON on standard error: stdout carries the answer."""
    configure_logging("warning", stream=_Stderr())  # type: ignore[arg-type]


def fail(code: str, english: str, vietnamese: str) -> typer.Exit:
    """Print one bilingual refusal line on stderr and return the exit to raise."""
    typer.echo(f"{code}: {vietnamese} / {english}", err=True)
    return typer.Exit(1)


def run_with_store(config: Path | None, work: Callable[[SystemsStore], Awaitable[T]]) -> T:
    """Open the store of ``config``, run ``work`` on it, print refusals cleanly."""
    from gateway.config import load_settings

    try:
        settings = load_settings(config)
    except (FileNotFoundError, ValidationError) as exc:
        raise fail("CONFIG_INVALID", str(exc), "Cấu hình không hợp lệ") from exc
    cli_logging()

    async def main() -> T:
        engine = create_engine(settings.store.url)
        try:
            await create_schema(engine)
            return await work(await open_systems_store(settings, engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except GatewayError as exc:
        raise fail(exc.code, exc.text_en, exc.text_vi) from exc


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _issued(issued: IssuedSecret) -> None:
    _print({"system": issued.system.as_dict(), "secret": issued.secret})
    typer.echo(
        "Lưu bí mật này ngay: nó không được hiển thị lại. / "
        "Store this secret now: it is not shown again.",
        err=True,
    )


def _stdin_secret(enabled: bool) -> str | None:
    if not enabled:
        return None
    value = sys.stdin.readline()
    if not value.strip():
        raise fail("SYSTEM_INVALID", "no secret on stdin", "Không có bí mật trên stdin")
    return value


@app.command()
def add(
    system_id: Annotated[str, typer.Argument(metavar="ID", help="system id")],
    agencies: Annotated[str, typer.Option("--agencies", help="agency codes, comma-separated")],
    profile: Annotated[str, typer.Option("--profile", help="strict | sdk")] = "sdk",
    policy: Annotated[str, typer.Option("--policy", help="strict | legacy | off")] = "legacy",
    networks: Annotated[
        str, typer.Option("--allowed-networks", help="CIDR list, comma-separated")
    ] = "",
    pdf_signatures: Annotated[
        str, typer.Option("--pdf-signatures", help="report | require")
    ] = "report",
    signer_binding: Annotated[
        str, typer.Option("--signer-binding", help="off | warn | require")
    ] = "off",
    secret_stdin: SecretStdin = False,
    config: Config = None,
    actor: Actor = "cli",
) -> None:
    """Add a calling system; its secret is printed once (or read with --secret-stdin)."""
    secret = _stdin_secret(secret_stdin)

    def split(text: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in text.split(",") if p.strip())

    async def work(store: SystemsStore) -> IssuedSecret:
        spec = SystemSpec(
            system_id,
            agencies=split(agencies),
            profile=profile,
            policy=policy,
            allowed_networks=split(networks),
            pdf_signatures=pdf_signatures,
            signer_binding=signer_binding,
        )
        return await store.add(spec, secret=secret, actor=actor)

    _issued(run_with_store(config, work))


@app.command()
def rotate(
    system_id: Annotated[str, typer.Argument(metavar="ID", help="system id")],
    secret_stdin: SecretStdin = False,
    overlap_days: Annotated[
        float | None,
        typer.Option("--overlap-days", min=0, help="days the previous secret keeps working"),
    ] = None,
    config: Config = None,
    actor: Actor = "cli",
) -> None:
    """Give a system a new secret; the previous one works until the overlap ends."""
    secret = _stdin_secret(secret_stdin)

    async def work(store: SystemsStore) -> IssuedSecret:
        return await store.rotate(system_id, secret=secret, overlap_days=overlap_days, actor=actor)

    _issued(run_with_store(config, work))


@app.command()
def disable(
    system_id: Annotated[str, typer.Argument(metavar="ID", help="system id")],
    reason: Annotated[str | None, typer.Option("--reason", help="why (audit)")] = None,
    config: Config = None,
    actor: Actor = "cli",
) -> None:
    """Refuse every request of a system from now on (its secrets are kept)."""

    async def work(store: SystemsStore) -> SystemView:
        return await store.disable(system_id, actor=actor, reason=reason)

    _print(run_with_store(config, work).as_dict())


@app.command()
def enable(
    system_id: Annotated[str, typer.Argument(metavar="ID", help="system id")],
    config: Config = None,
    actor: Actor = "cli",
) -> None:
    """Accept a disabled or suspended system's requests again."""

    async def work(store: SystemsStore) -> SystemView:
        return await store.enable(system_id, actor=actor)

    _print(run_with_store(config, work).as_dict())


@app.command("list")
def list_(config: Config = None) -> None:
    """List every calling system (no secret)."""

    async def work(store: SystemsStore) -> list[SystemView]:
        return await store.list()

    _print([v.as_dict() for v in run_with_store(config, work)])


@app.command()
def show(
    system_id: Annotated[str, typer.Argument(metavar="ID", help="system id")],
    config: Config = None,
) -> None:
    """Show one calling system (no secret)."""

    async def work(store: SystemsStore) -> SystemView:
        return await store.show(system_id)

    _print(run_with_store(config, work).as_dict())


@app.command("revoke-token")
def revoke_token(
    token: Annotated[
        str, typer.Argument(metavar="TOKEN|ID", help="the bearer token, or its id with --system")
    ],
    system_id: Annotated[
        str | None, typer.Option("--system", help="the system the token id belongs to")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="why (audit)")] = None,
    config: Config = None,
    actor: Actor = "cli",
) -> None:
    """Revoke one bearer token before it expires: every gateway refuses it within seconds."""
    from gateway.config import load_settings
    from gateway.credentials.tokens import TokenName, parse_token
    from gateway.credentials.tokens import revoke_token as revoke

    name = parse_token(token) if "." in token else None
    if name is None:
        if not system_id:
            raise fail(
                "SYSTEM_INVALID",
                "give the whole token, or its id with --system",
                "Cần mã thông báo đầy đủ, hoặc mã định danh của nó kèm --system",
            )
        name = TokenName(system_id, token)
    ttl = load_settings(config).limits.token_ttl_s

    async def work(store: SystemsStore) -> bool:
        return await revoke(store.engine, name, actor=actor, token_ttl_s=ttl, reason=reason)

    revoked = run_with_store(config, work)
    _print({"system": name.system_id, "token_id": name.token_id, "revoked": revoked})
