"""``carelog mcp``: the MCP server over stdio, for a model host that launches it."""

from __future__ import annotations

import asyncio
import logging.config
import os

import typer

from carelog.cli.extras import needs
from carelog.cli.serve import log_config

KEY_VARIABLE = "CARELOG_API_KEY"


@needs("server")
@needs("mcp")
def mcp() -> None:
    """Serve Carelog's MCP tools over stdio, acting as the API key in CARELOG_API_KEY.

    For a model host that launches a local MCP server (its config names `carelog mcp` and
    sets CARELOG_API_KEY and DATABASE_URL). Logs go to stderr; stdout is the protocol.
    """
    from carelog.cli.database import database_url
    from carelog.errors import CarelogError
    from carelog.mcp.stdio import serve_stdio
    from carelog.settings import get_settings

    key = os.environ.get(KEY_VARIABLE, "").strip()
    if not key:
        typer.echo(f"error: set {KEY_VARIABLE} to the API key the tools act as", err=True)
        raise typer.Exit(1)
    settings = get_settings()
    logging.config.dictConfig(log_config(settings.log_level))
    with database_url(settings) as url:
        try:
            asyncio.run(serve_stdio(settings.model_copy(update={"database_url": url}), key))
        except CarelogError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(1) from None
