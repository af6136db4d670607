"""``carelog serve``: run the API (uvicorn on uvloop and httptools)."""

from __future__ import annotations

import asyncio
import logging.config
import os
import signal
from types import FrameType
from typing import Annotated, Any

import typer

from carelog.cli import inputs
from carelog.cli.extras import needs
from carelog.domain.principals import IssuedApiKey


async def _bootstrap(url: str) -> IssuedApiKey | None:
    from carelog.cli.database import small_pool
    from carelog.services.auth.keys import bootstrap_admin_key

    async with small_pool(url) as pool:
        return await bootstrap_admin_key(pool)


def log_config(level: str) -> dict[str, Any]:
    """The one logging set-up of the service, for :func:`logging.config.dictConfig`.

    uvicorn applies it in every process it runs the app in: worker processes are spawned
    afresh and would inherit nothing configured here, so with ``--workers 2`` the access log
    (INFO) went nowhere and warnings reached stderr bare, without timestamp or level.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own lines go through the same handler and format as ours.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
            "pgserver": {"level": "WARNING"},
        },
    }


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the signal that stopped it once it has shut down; exiting through
    # SystemExit (not the default handler's abrupt death) lets the embedded database stop.
    raise SystemExit(0)


@needs("server")
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on.", callback=inputs.host)
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
) -> None:
    """Start the API. Without DATABASE_URL it runs an embedded PostgreSQL and stops it on exit.

    Migrations are applied first. On a database with no API key yet, an admin key is created
    and printed once.
    """
    import uvicorn  # (the server extra)

    from carelog.cli.database import database_url
    from carelog.settings import get_settings

    settings = get_settings()
    logging_config = log_config(settings.log_level)
    logging.config.dictConfig(logging_config)
    with database_url(settings, announce=True, serving=True) as url:
        issued = asyncio.run(_bootstrap(url))
        if issued is not None:
            typer.echo(
                f"Created the first admin API key (tenant '{issued.key.tenant_id}'). "
                "It is shown only this once:\n\n"
                f"    {issued.token}\n\n"
                "Send it as 'Authorization: Bearer <key>'. "
                "Make narrower keys with 'carelog keys create'."
            )
        # Workers are separate processes: they find the database through the environment.
        # With one worker the app runs in this process: it must read the URL too, not the
        # cached settings (and start a second handle on the embedded server).
        os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()
        signal.signal(signal.SIGTERM, _exit_quietly)
        signal.signal(signal.SIGINT, _exit_quietly)
        typer.echo(f"Carelog listening on http://{host}:{port} (docs at /docs)")
        uvicorn.run(
            "carelog.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            access_log=False,  # carelog.access logs each request, by route template
            log_config=logging_config,
            log_level=settings.log_level.lower(),
            server_header=False,
        )
