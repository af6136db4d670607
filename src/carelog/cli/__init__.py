"""The ``carelog`` command line: one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from carelog import __version__
from carelog.cli import audit, demo, generate, keys, mcp_server, migrate, serve, workflows

app = typer.Typer(
    name="carelog",
    help=(
        "Carelog: the patient event log and workflow API for healthcare AI agents.\n\n"
        "Every command uses DATABASE_URL when it is set, and otherwise the embedded PostgreSQL "
        "whose data lives in CARELOG_DATA_DIR (default ./.carelog)."
    ),
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"carelog {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Options that come before the command."""


app.command("serve")(serve.serve)
app.command("migrate")(migrate.migrate_command)
app.command("generate")(generate.generate)
app.command("demo")(demo.demo)
app.command("mcp")(mcp_server.mcp)
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(workflows.app, name="workflows")


def main() -> None:
    """Entry point of the ``carelog`` script."""
    app()
