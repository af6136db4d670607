"""How CLI commands reach the database: ``DATABASE_URL``, or the embedded server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

import psycopg
import typer

from carelog.errors import CarelogError, MigrationError
from carelog.settings import Settings, get_settings
from carelog.storage.db import Pool, connect, create_pool
from carelog.storage.embedded import EmbeddedPostgres
from carelog.storage.migrate import Migration, migrate


async def apply_migrations(url: str) -> list[Migration]:
    """Apply pending migrations; return those this call applied."""
    async with await connect(url) as conn:
        return await migrate(conn)


@contextmanager
def database_url(
    settings: Settings, *, announce: bool = False, serving: bool = False
) -> Iterator[str]:
    """A migrated database's URL for the block.

    Starts the embedded PostgreSQL when no ``DATABASE_URL`` is configured, and stops it after
    if this process owns it (see ``carelog.storage.embedded``). ``serving`` is for ``carelog
    serve``, which also adopts a server that its owner left running.
    """
    embedded: EmbeddedPostgres | None = None
    url = settings.database_url
    if url is None:
        embedded = EmbeddedPostgres(settings.data_dir, serving=serving)
        url = embedded.start()
        if announce:
            typer.echo(
                f"Embedded PostgreSQL 16 running; data in {embedded.pgdata} "
                "(socket in that folder). Set DATABASE_URL to use another server."
            )
    try:
        try:
            applied = asyncio.run(apply_migrations(url))
        except psycopg.OperationalError as exc:
            # libpq's message names the host and the reason (refused, bad password, ...).
            typer.echo(f"error: cannot reach the database: {str(exc).strip()}", err=True)
            raise typer.Exit(1) from None
        except MigrationError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(1) from None
        for migration in applied:
            typer.echo(f"applied migration {migration.version:04d}_{migration.name}", err=True)
        yield url
    finally:
        if embedded is not None:
            embedded.stop()


@asynccontextmanager
async def small_pool(url: str) -> AsyncIterator[Pool]:
    """A two-connection pool for a one-off command."""
    # The operator's tools act as the login user (the tables' owner): across tenants.
    pool = create_pool(url, min_size=1, max_size=2, timeout=10, as_app=False)
    await pool.open(wait=True, timeout=30)
    try:
        yield pool
    finally:
        await pool.close()


T = TypeVar("T")


def run_with_pool(action: Callable[[Pool], Awaitable[T]]) -> T:
    """Run one service call against the configured database; errors exit 1 in one line."""

    async def with_pool(url: str) -> T:
        async with small_pool(url) as pool:
            return await action(pool)

    with database_url(get_settings()) as url:
        try:
            return asyncio.run(with_pool(url))
        except CarelogError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(1) from None
