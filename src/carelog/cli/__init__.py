"""The ``carelog`` command line: one module per command group."""

from __future__ import annotations

import typer

from carelog.cli import audit, keys, migrate, serve

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
app.command("serve")(serve.serve)
app.command("migrate")(migrate.migrate_command)
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")


def main() -> None:
    """Entry point of the ``carelog`` script."""
    app()
