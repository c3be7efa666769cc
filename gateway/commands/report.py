"""`edoc-gateway report ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="report commands", no_args_is_help=True)
