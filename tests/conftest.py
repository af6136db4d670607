"""Shared fixtures: one real PostgreSQL for the session (embedded, or DATABASE_URL), a fresh
database in it, the app over ASGI, and factories for tenants and keys."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from carelog.api.app import create_app
from carelog.services.fhir.export import run_export
from carelog.services.jobs import JobWorker
from carelog.services.unit import Work, unit_of_work
from carelog.settings import Settings
from carelog.storage.db import Connection, Pool, connect
from carelog.storage.embedded import EmbeddedPostgres
from tests.e2e.workflow_kit import Clock, controlled_clock
from tests.factories import client_address, make_access, new_tenant

# No app of the test process sends webhooks unless its test asks (tests/e2e/test_webhooks.py
# starts an instance with a worker): a subscription some test made to a public address
# (schemathesis makes them) is never sent to from an app another test started.
os.environ["CARELOG_WEBHOOK_WORKERS"] = "0"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An administrative URL of the PostgreSQL server the suite runs against."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("carelog-pg"))
    embedded.start()
    try:
        yield embedded.url("postgres")
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def make_database(server_url: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases on the suite's server, all dropped at the end."""
    created: list[str] = []

    def make() -> str:
        name = f"carelog_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _with_database(server_url, name)

    yield make
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(make_database: Callable[[], str]) -> str:
    """The session's test database (migrated by the app's lifespan)."""
    return make_database()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the app under test."""
    return Settings(
        database_url=database_url,
        data_dir=Path(tmp_path_factory.mktemp("unused-data")),
        pool_min_size=2,
        pool_max_size=24,
        pool_timeout=5,
        # POST /fhir/$import's own limit: over the usual 1 MiB, small enough to send past.
        fhir_import_max_bytes=2 * 1024 * 1024,
        # No export worker in the session's app: a test that exports starts its own
        # (tests/e2e/test_fhir_export.py), so that a restart test knows who runs a job.
        export_workers=0,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app, started (pool open, migrations applied) for the whole session."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def pool(app: FastAPI) -> Pool:
    """The running app's connection pool."""
    pool: Pool = app.state.runtime.pool
    return pool


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process, from an address of its own: the service
    limits and counts failed authentication per client address, and one test's 401s must not
    turn another's into 429s or into a counted row."""
    transport = httpx.ASGITransport(app=app, client=client_address())
    async with httpx.AsyncClient(transport=transport, base_url="http://carelog.test") as c:
        yield c


@pytest.fixture
def clock(app: FastAPI) -> Iterator[Clock]:
    """The app's clock, standing still at 2026-03-02 09:00 UTC until the test moves it (due
    times and overdue flags are computed from it)."""
    with controlled_clock(app) as clock:
        yield clock


@pytest.fixture
async def dba(database_url: str, app: FastAPI) -> AsyncIterator[Connection]:
    """A connection as the login user (the tables' owner): the DBA's view, past row-level
    security, for tests that play the operator or the tamperer. (``app`` has migrated.)"""
    conn = await connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def work(pool: Pool) -> AsyncIterator[Work]:
    """A unit of work for a read-write key of a new tenant, inside a transaction that is
    rolled back at the end: what the test writes through it is gone afterwards."""
    async with (
        unit_of_work(pool, make_access(new_tenant())) as unit,
        unit.transaction(rollback=True),
    ):
        yield unit


@pytest.fixture
async def worker(pool: Pool) -> AsyncIterator[None]:
    """A Bulk Data export worker on the session app's pool for the test (the app runs
    none, so that a restart test knows which instance runs its job)."""
    task = asyncio.create_task(
        JobWorker(pool, run_export, poll_seconds=0.05, stale_seconds=60).run_forever()
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
