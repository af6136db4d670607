"""The connection pool and how JSON crosses the wire. Opened and closed by the app's lifespan."""

from __future__ import annotations

import logging
import select
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg
import psycopg.errors
from psycopg import AsyncConnection, pq
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from carelog.errors import ServiceBusy, ServiceUnavailable

_log = logging.getLogger("carelog.db")


Connection = AsyncConnection[Any]
Pool = AsyncConnectionPool[Connection]


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def configure_json() -> None:
    """Make psycopg (de)serialize jsonb with orjson: faster, and the same bytes as the API."""
    set_json_dumps(_dumps)
    set_json_loads(orjson.loads)


APP_ROLE = "carelog_app"

# The tenant each pooled connection last stated (carelog.tenant_id), so that a request of the
# same tenant as the previous one on that connection costs no extra statement.
_stated_tenant: weakref.WeakKeyDictionary[AsyncConnection[Any], str] = weakref.WeakKeyDictionary()


# Connections of each pool handed out and not yet back: when the pool times out with all of
# them out, the database is busy, not unreachable.
_in_use: weakref.WeakKeyDictionary[Pool, int] = weakref.WeakKeyDictionary()

# When each pooled connection was last given back (time.monotonic()).
_given_back: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = weakref.WeakKeyDictionary()

# A connection given back less than this many seconds ago is checked only for a sign of
# death, not with a round trip (see create_pool).
CHECK_IDLE_AFTER = 2.0


def _shows_no_sign_of_death(conn: AsyncConnection[Any]) -> bool:
    """Whether an idle connection is open with nothing to read. A server process that ends
    (a restart, pg_terminate_backend) sends a FATAL message and closes its socket, so the
    socket turns readable; an idle autocommit session is sent nothing otherwise."""
    if conn.closed or conn.pgconn.status != pq.ConnStatus.OK:
        return False
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN)
    return not poller.poll(0)


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
    as_app: bool = True,
    statement_timeout_ms: int = 0,
    check_idle_after: float = CHECK_IDLE_AFTER,
) -> Pool:
    """An autocommit pool, not yet open: open it with ``await pool.open()`` in a lifespan.

    Autocommit means a single statement is its own transaction (one round trip); a use case
    that writes more than one statement opens its unit of work's transaction
    (``services/unit.py``), and operator commands ``conn.transaction()``. With
    ``as_app`` (the service) every connection acts as carelog_app, under row-level security;
    without it (the operator's CLI) as the login user, the tables' owner. PostgreSQL
    cancels any statement of theirs that runs over ``statement_timeout_ms`` (0: no limit).

    Each connection is checked as it is handed out. One given back less than
    ``check_idle_after`` seconds ago is checked without a round trip: open, and its socket
    has nothing to read (a server that ended it has written its goodbye and closed it). Any
    other, or one that shows a sign of death, gets an empty query.
    """
    configure_json()

    async def configure(conn: AsyncConnection[Any]) -> None:
        await _configure_connection(conn)
        await conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        if as_app:
            # Row-level security applies to carelog_app, not to the owner the URL logs in as.
            await conn.execute(f"SET ROLE {APP_ROLE}")

    async def check(conn: AsyncConnection[Any]) -> None:
        given_back = _given_back.get(conn)
        if (
            given_back is not None
            and time.monotonic() - given_back < check_idle_after
            and _shows_no_sign_of_death(conn)
        ):
            return
        try:
            await AsyncConnectionPool.check_connection(conn)
        except psycopg.Error:
            # One dead connection means the server restarted and took the others with it:
            # replace them all now, or each request would draw the next dead one after a
            # growing back-off (1, 2, 4 s) and run out of time.
            await pool.check()
            raise

    pool: Pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        name=name,
        open=False,
        kwargs={"autocommit": True, "application_name": "carelog"},
        configure=configure,
        # Each connection is checked as it is handed out: after the database restarted,
        # the dead ones are dropped there and replaced, instead of failing the requests that
        # draw them.
        check=check,
        reconnect_timeout=3600,
    )
    return pool


@asynccontextmanager
async def connection(
    pool: Pool, tenant_id: str | None = None
) -> AsyncIterator[AsyncConnection[Any]]:
    """A pooled connection, speaking for ``tenant_id`` under row-level security.

    An unreachable database surfaces as :class:`ServiceUnavailable`; a busy one (every
    connection in use until the pool's timeout, or a statement over its time limit) as
    :class:`ServiceBusy`. The pool checks each connection as it hands it out and replaces a
    dead one, so once the database is up again no request draws a connection that died with
    the old server.
    """
    try:
        async with pool.connection() as conn:
            _in_use[pool] = _in_use.get(pool, 0) + 1
            try:
                # The tenant stays stated on the session (one round trip only when it
                # changes); asked for with none, a connection that spoke for one is made
                # to speak for none again, or it would still see that tenant's rows.
                stated = _stated_tenant.get(conn)
                if stated != tenant_id:
                    await conn.execute(
                        "SELECT set_config('carelog.tenant_id', %s, false)", (tenant_id or "",)
                    )
                    if tenant_id is None:
                        del _stated_tenant[conn]
                    else:
                        _stated_tenant[conn] = tenant_id
                yield conn
            finally:
                _in_use[pool] -= 1
                _given_back[conn] = time.monotonic()
    except psycopg.errors.QueryCanceled:
        _log.warning("database statement cancelled: over statement_timeout")
        raise ServiceBusy("A database statement took too long; retry shortly.") from None
    except PoolTimeout:
        if _in_use.get(pool, 0) >= pool.max_size:
            _log.warning("database busy: all %d connections in use", pool.max_size)
            raise ServiceBusy("Every database connection is in use; retry shortly.") from None
        _log.warning("database unavailable: PoolTimeout")
        raise ServiceUnavailable("The database is unavailable; retry shortly.") from None
    except psycopg.OperationalError as exc:
        _log.warning("database unavailable: %s", type(exc).__name__)
        raise ServiceUnavailable("The database is unavailable; retry shortly.") from None


async def set_local(conn: AsyncConnection[Any], settings: Mapping[str, str]) -> None:
    """Set ``settings`` for the rest of the connection's current transaction, in one
    statement (``SET LOCAL``, as ``set_config(name, value, true)``)."""
    names = list(settings)
    calls = ", ".join("set_config(%s, %s, true)" for _ in names)
    await conn.execute(
        f"SELECT {calls}".encode(), [part for name in names for part in (name, settings[name])]
    )


async def current_settings(conn: AsyncConnection[Any], names: Iterable[str]) -> dict[str, str]:
    """The values ``names`` have now on the connection (``''`` for a custom setting that was
    never set, which is what setting it to ``''`` puts back)."""
    wanted = list(names)
    calls = ", ".join("coalesce(current_setting(%s, true), '')" for _ in wanted)
    cur = await conn.execute(f"SELECT {calls}".encode(), wanted)
    row = await cur.fetchone()
    assert row is not None
    return dict(zip(wanted, row, strict=True))


def transaction_failed(conn: AsyncConnection[Any]) -> bool:
    """Whether the connection's transaction has failed (only a rollback ends it)."""
    return conn.info.transaction_status == pq.TransactionStatus.INERROR


def transaction_open(conn: AsyncConnection[Any]) -> bool:
    """Whether the connection is inside a transaction block, failed or not."""
    return conn.info.transaction_status in (
        pq.TransactionStatus.INTRANS,
        pq.TransactionStatus.INERROR,
    )


async def begin(conn: AsyncConnection[Any]) -> None:
    """Start a transaction by hand (in a pipeline, where psycopg's own ``transaction()``
    would wait for an answer at each step)."""
    await conn.execute(b"BEGIN")


async def commit(conn: AsyncConnection[Any]) -> None:
    """Commit the transaction :func:`begin` started."""
    await conn.execute(b"COMMIT")


async def rollback(conn: AsyncConnection[Any]) -> None:
    """Roll back the transaction :func:`begin` started, whatever state it is in."""
    await conn.execute(b"ROLLBACK")


async def connect(url: str, **options: Any) -> AsyncConnection[Any]:
    """One autocommit connection outside any pool (migrations, listeners, one-off commands)."""
    configure_json()
    conn = await AsyncConnection.connect(
        url, autocommit=True, application_name="carelog", **options
    )
    try:
        await _configure_connection(conn)
    except BaseException:
        # Cancelled here (a listener stopped as the app shuts down) or failed: the
        # connection is nobody's, close it rather than leave it to the garbage collector.
        await conn.close()
        raise
    return conn
