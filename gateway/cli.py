"""Composition root of the ``edoc-gateway`` command line: registers every command group."""

from __future__ import annotations

import typer

from gateway.commands import audit, deliveries, directory, messages, packet, report, serve
from gateway.commands import backup as backup_commands
from gateway.commands import duties as duties_commands
from gateway.commands import operators as operator_commands
from gateway.commands import systems as systems_commands
from gateway.commands.guard import guard_commands

app = typer.Typer(
    name="edoc-gateway",
    help="Document exchange gateway for Vietnamese state agencies (edXML / QCVN 102).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (packet, serve):
    for name, command in getattr(module, "COMMANDS", {}).items():
        app.command(name)(command)

app.add_typer(deliveries.app, name="deliveries")
app.add_typer(directory.app, name="directory")
app.add_typer(audit.app, name="audit")
app.add_typer(report.app, name="report")
app.add_typer(messages.app, name="messages")
app.add_typer(systems_commands.app, name="systems")
app.add_typer(duties_commands.app, name="duties")
app.add_typer(operator_commands.app, name="operators")

for name, command in backup_commands.COMMANDS.items():
    app.command(name)(command)

guard_commands(app)


def main() -> None:
    """Run the ``edoc-gateway`` command line."""
    guard_commands(app)  # again here: groups registered after the module-level call
    app()
