"""The connection pool and how JSON crosses the wire. Opened and closed by the app's lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from carelog.errors import ServiceUnavailable

_log = logging.getLogger("carelog.db")


Connection = AsyncConnection[Any]
Pool = AsyncConnectionPool[Connection]


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def configure_json() -> None:
    """Make psycopg (de)serialize jsonb with orjson: faster, and the same bytes as the API."""
    set_json_dumps(_dumps)
    set_json_loads(orjson.loads)


async def _configure_connection(conn: AsyncConnection[Any]) -> None:
    # Times on the wire are UTC whatever the server's default is.
    await conn.execute("SET TIME ZONE 'UTC'")


def create_pool(
    url: str,
    *,
    min_size: int = 4,
    max_size: int = 16,
    timeout: float = 5.0,
    name: str = "carelog",
) -> Pool:
    """An autocommit pool, not yet open: open it with ``await pool.open()`` in a lifespan.

    Autocommit means a single statement is its own transaction (one round trip); services
    that write more than one statement open ``conn.transaction()`` explicitly.
    """
    configure_json()
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        name=name,
        open=False,
        kwargs={"autocommit": True, "application_name": "carelog"},
        configure=_configure_connection,
        reconnect_timeout=3600,
    )


@asynccontextmanager
async def connection(pool: Pool) -> AsyncIterator[AsyncConnection[Any]]:
    """A pooled connection; an unreachable database surfaces as :class:`ServiceUnavailable`.

    The pool drops a broken connection when it comes back, so once the database is up again
    the next requests get fresh connections: the service recovers without a restart.
    """
    try:
        async with pool.connection() as conn:
            yield conn
    except (psycopg.OperationalError, PoolTimeout) as exc:
        _log.warning("database unavailable: %s", type(exc).__name__)
        raise ServiceUnavailable("The database is unavailable; retry shortly.") from None


async def connect(url: str, **options: Any) -> AsyncConnection[Any]:
    """One autocommit connection outside any pool (migrations, listeners, one-off commands)."""
    configure_json()
    conn = await AsyncConnection.connect(
        url, autocommit=True, application_name="carelog", **options
    )
    await _configure_connection(conn)
    return conn
