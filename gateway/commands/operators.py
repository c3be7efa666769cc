"""`edoc-gateway operators ...`: console operator accounts (add, passwd, disable, list)."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.config import load_settings
from gateway.credentials import operators
from gateway.errors import GatewayError
from gateway.store.database import create_engine, create_schema

app = typer.Typer(help="Operator accounts of the web console (/console/).", no_args_is_help=True)

T = TypeVar("T")
Config = Annotated[Path | None, typer.Option("--config", "-c", help="gateway TOML file")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input")
]
ACTOR = "cli"


def _run(config: Path | None, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(load_settings(config).store.url)
        try:
            await create_schema(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except GatewayError as exc:
        typer.echo(f"{exc.code}: {exc.text_vi} / {exc.text_en}", err=True)
        raise typer.Exit(1) from exc


def _password(from_stdin: bool) -> str:
    """Read the new password: one line of standard input, or twice at a prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Mật khẩu / Password: ")
    if getpass.getpass("Nhập lại / Again: ") != first:
        typer.echo("mật khẩu không khớp / passwords differ", err=True)
        raise typer.Exit(2)
    return first


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option("--role", help="admin | operator | auditor")],
    password_stdin: PasswordStdin = False,
    config: Config = None,
) -> None:
    """Create an operator account with a role."""
    password = _password(password_stdin)
    made = _run(config, lambda e: operators.add(e, name, role, password, actor=ACTOR))
    typer.echo(f"đã tạo / created: {made.name} ({made.role})")


@app.command("passwd")
def passwd(
    name: Annotated[str, typer.Argument(help="login name")],
    password_stdin: PasswordStdin = False,
    config: Config = None,
) -> None:
    """Set a new password for an operator (also lifts a lock after failed logins)."""
    password = _password(password_stdin)
    _run(config, lambda e: operators.set_password(e, name, password, actor=ACTOR))
    typer.echo(f"đã đổi mật khẩu / password changed: {name}")


@app.command("disable")
def disable(name: Annotated[str, typer.Argument(help="login name")], config: Config = None) -> None:
    """Disable an operator account (no more logins; open sessions end)."""
    _run(config, lambda e: operators.disable(e, name, actor=ACTOR))
    typer.echo(f"đã vô hiệu hóa / disabled: {name}")


@app.command("list")
def list_(config: Config = None) -> None:
    """List operator accounts."""
    for op in _run(config, operators.list_all):
        state = "disabled" if op.disabled else "active"
        typer.echo(f"{op.name}\t{op.role}\t{state}")
