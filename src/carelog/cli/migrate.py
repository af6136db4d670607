"""``carelog migrate``: apply pending schema migrations."""

from __future__ import annotations

import typer

from carelog.cli.extras import needs


@needs("server")
def migrate_command() -> None:
    """Apply pending migrations (safe while other processes start or serve)."""
    from carelog.cli.database import database_url  # (the server extra)
    from carelog.settings import get_settings

    with database_url(get_settings()):
        typer.echo("database is up to date")
