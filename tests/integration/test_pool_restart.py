"""Every pooled connection dies (the database restarted): the next uses all succeed."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from carelog.storage.db import connection, create_pool

pytestmark = pytest.mark.integration


async def test_dead_pooled_connections_cost_no_request(
    make_database: Callable[[], str], server_url: str
) -> None:
    url = make_database()
    pool = create_pool(url, min_size=4, max_size=4, timeout=5, name="restart", as_app=False)
    await pool.open(wait=True, timeout=10)
    try:
        async with connection(pool) as conn:
            await conn.execute("SELECT 1")
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
