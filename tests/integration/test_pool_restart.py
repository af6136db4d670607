"""Every pooled connection dies (the database restarted): the next uses all succeed, whether
the dead connections were given back a moment ago (checked without a round trip) or long ago.
A live connection given back a moment ago costs no round trip to check."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from carelog.storage.db import Connection, Pool, connection, create_pool

pytestmark = pytest.mark.integration


async def _use_all(pool: Pool) -> None:
    async with AsyncExitStack() as held:
        for _ in range(pool.max_size):
            conn = await held.enter_async_context(connection(pool))
            await conn.execute("SELECT 1")


@pytest.mark.parametrize("check_idle_after", [0.0, 60.0], ids=["given-back-long-ago", "just"])
async def test_dead_pooled_connections_cost_no_request(
    make_database: Callable[[], str], server_url: str, check_idle_after: float
) -> None:
    url = make_database()
    pool = create_pool(
        url,
        min_size=4,
        max_size=4,
        timeout=5,
        name="restart",
        as_app=False,
        check_idle_after=check_idle_after,
    )
    await pool.open(wait=True, timeout=10)
    try:
        await _use_all(pool)
        database = conninfo_to_dict(url)["dbname"]
        # What a restart does to the pool: every server process behind it is gone.
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as su:
            cursor = await su.execute(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                " WHERE datname = %s AND application_name = 'carelog'",
                (database,),
            )
            row = await cursor.fetchone()
            assert row == (4,)
        for _ in range(12):
            async with connection(pool) as conn:
                await conn.execute("SELECT 1")
    finally:
        await pool.close()


async def test_a_connection_given_back_a_moment_ago_is_checked_without_a_round_trip(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_trips: list[Connection] = []
    empty_query = AsyncConnectionPool.check_connection

    async def counted(conn: Connection) -> None:
        round_trips.append(conn)
        await empty_query(conn)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", staticmethod(counted))
    for idle_after, expected in ((60.0, 4), (0.0, 4 + 20)):
        pool = create_pool(
            database_url, min_size=4, max_size=4, as_app=False, check_idle_after=idle_after
        )
        await pool.open(wait=True, timeout=10)
        try:
            round_trips.clear()
            await _use_all(pool)  # none given back yet: each one checked by a query
            for _ in range(20):
                async with connection(pool) as conn:
                    await conn.execute("SELECT 1")
            assert len(round_trips) == expected
        finally:
            await pool.close()
