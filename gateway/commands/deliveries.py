"""`edoc-gateway deliveries ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="deliveries commands", no_args_is_help=True)
