"""A busy database is told apart from an unreachable one, and costs no more than it must:
a full pool or a statement over its time limit is 503 ``service-busy`` with Retry-After,
and the statement of a client that went away is cancelled, its connection freed."""

from __future__ import annotations

import asyncio
import socket
import time
from contextlib import AsyncExitStack

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from carelog.api.app import create_app
from carelog.errors import ServiceBusy
from carelog.settings import Settings
from carelog.storage.db import Connection, connection, create_pool

pytestmark = pytest.mark.e2e

MARK = "carelog-disconnect-test"


async def test_a_full_pool_is_busy_not_unavailable(settings: Settings) -> None:
    small = settings.model_copy(
        update={"pool_min_size": 1, "pool_max_size": 2, "pool_timeout": 0.3}
    )
    app = create_app(small)
    async with app.router.lifespan_context(app), AsyncExitStack() as held:
        for _ in range(2):
            await held.enter_async_context(connection(app.state.runtime.pool))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "service-busy"
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1


async def test_a_statement_over_its_time_limit_is_busy(database_url: str) -> None:
    pool = create_pool(database_url, min_size=1, max_size=1, as_app=False, statement_timeout_ms=100)
    await pool.open(wait=True)
    try:
        started = time.monotonic()
        with pytest.raises(ServiceBusy) as raised:
            async with connection(pool) as conn:
                await conn.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 2
        assert raised.value.code == "service-busy"
        assert raised.value.headers["Retry-After"] == "1"
        async with connection(pool) as conn:  # the connection is fine afterwards
            await conn.execute("SELECT 1")
    finally:
        await pool.close()


async def test_the_service_bounds_its_statements(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"statement_timeout_ms": 1234}))
    async with app.router.lifespan_context(app), connection(app.state.runtime.pool) as conn:
        cursor = await conn.execute("SHOW statement_timeout")
        assert await cursor.fetchone() == ("1234ms",)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _running(dba: Connection) -> int:
    cursor = await dba.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s",
        (f"%/* {MARK} */%",),
    )
    row = await cursor.fetchone()
    assert row is not None
    count: int = row[0]
    return count


async def test_a_disconnected_clients_statement_is_cancelled(
    app: FastAPI, dba: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carelog.services import health

    entered: list[bool] = []

    async def slow(conn: Connection) -> bool:
        entered.append(True)
        await conn.execute(f"SELECT pg_sleep(10) /* {MARK} */")
        return True

    monkeypatch.setattr(health, "is_up_to_date", slow)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/readyz", timeout=0.5)
        assert entered
        # psycopg cancels the statement server-side at once; allow a little for the cancel.
        for _ in range(60):
            if not await _running(dba):
                break
            await asyncio.sleep(0.05)
        assert await _running(dba) == 0, "the abandoned statement is still running"
    finally:
        server.should_exit = True
        await serving
