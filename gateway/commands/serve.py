"""`edoc-gateway serve` (run the service) and `edoc-gateway demo` (the whole flow, locally)."""

from __future__ import annotations

from pathlib import Path

import typer
from aiohttp import web

from gateway.app import build_app
from gateway.config import load_settings
from gateway.errors import GatewayError
from gateway.logging import configure_logging


def serve(
    config: Path = typer.Option(None, "--config", "-c", help="TOML configuration file"),
    workers: bool = typer.Option(True, help="run delivery workers in this process"),
) -> None:
    """Run the gateway HTTP service with its delivery workers until interrupted."""
    try:
        settings = load_settings(config)
    except (OSError, ValueError, GatewayError) as exc:
        typer.echo(f"error: cannot load configuration / không đọc được cấu hình: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    try:
        app = build_app(settings, with_workers=workers)
    except (OSError, ValueError) as exc:  # trust anchors, calendar, node key: read at build
        typer.echo(
            f"error: cannot read the node's files / không đọc được tệp của nút: {exc}", err=True
        )
        raise typer.Exit(2) from None
    web.run_app(app, host=settings.listen.host, port=settings.listen.port, access_log=None)


def demo(
    config: Path = typer.Option(None, "--config", "-c", help="TOML configuration file"),
) -> None:
    """Run a gateway, a push and a pull recipient, and show one document's whole journey."""
    from gateway.commands.demo_flow import run_demo

    raise typer.Exit(run_demo(config))


COMMANDS = {"serve": serve, "demo": demo}
