"""Failed authentication is limited per client address, and its repeats are counted, not
written one row each (issue 9, item 8)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from carelog.api.app import create_app
from carelog.domain.audit import (
    UNKNOWN_TENANT,
    AuditAction,
    AuditContext,
    AuditOutcome,
    RepeatedAttempts,
)
from carelog.domain.principals import Principal
from carelog.services import audit as audit_service
from carelog.services.audit.attempts import AttemptCounter
from carelog.services.auth import keys as key_service
from carelog.services.periodic import every
from carelog.settings import Settings
from carelog.storage import audit as audit_store
from carelog.storage import keys as key_store
from carelog.storage.db import Connection, Pool, connection
from tests.factories import audit_rows, bearer, client_address, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

BURST = 5
MADE_UP = bearer("clk_madeup_0123456789abcdefghij")


def _settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url,
        pool_min_size=1,
        pool_max_size=4,
        # No refill within a test: the counts below are exact.
        auth_failure_rate_per_second=0.01,
        auth_failure_burst=BURST,
        audit_repeat_window_seconds=3600,
        **overrides,
    )


@asynccontextmanager
async def _running(application: FastAPI) -> AsyncIterator[FastAPI]:
    """The app started, with its keys listener connected (stopping it while the listener
    is still connecting would leave that connection to the garbage collector)."""
    async with application.router.lifespan_context(application):
        for _ in range(200):
            if application.state.runtime.principal_cache.live:
                break
            await asyncio.sleep(0.025)
        yield application


@pytest.fixture
async def guarded_app(database_url: str) -> AsyncIterator[FastAPI]:
    async with _running(create_app(_settings(database_url))) as application:
        yield application


def _client(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def _rows_of(pool: Pool, address: str) -> list[dict[str, Any]]:
    return [r for r in await audit_rows(pool, UNKNOWN_TENANT) if r["client_address"] == address]


async def test_a_flood_of_made_up_tokens_is_429_and_a_few_counted_rows(
    guarded_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = guarded_app.state.runtime.pool
    lookups = 0
    find_principal = key_store.find_principal

    async def counted(conn: Connection, *, key_hash: bytes) -> Principal | None:
        nonlocal lookups
        lookups += 1
        return await find_principal(conn, key_hash=key_hash)

    monkeypatch.setattr(key_store, "find_principal", counted)
    requests = 60
    address = client_address()[0]
    async with _client(guarded_app, address) as client:
        responses = [
            await client.get(f"/patient-events/P-{n:04d}", headers=MADE_UP) for n in range(requests)
        ]
    statuses = [r.status_code for r in responses]
    assert statuses == [401] * BURST + [429] * (requests - BURST)
    limited = responses[-1]
    assert limited.json()["code"] == "rate-limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["ratelimit-limit"] == str(BURST)
    assert limited.headers["ratelimit-remaining"] == "0"
    remaining = [r.headers["ratelimit-remaining"] for r in responses[:BURST]]
    assert remaining == ["4", "3", "2", "1", "0"]
    assert lookups == BURST  # the 429s did not look the token up

    # Written at once: the first 401 and the first 429 of the address, as before.
    rows = await _rows_of(pool, address)
    assert [(r["status"], r["attempts"], r["patient_id"]) for r in rows] == [
        (401, None, "P-0000"),
        (429, None, f"P-{BURST:04d}"),
    ]
    assert guarded_app.state.runtime.attempts.pending() == requests - 2

    assert await guarded_app.state.runtime.attempts.flush(pool, everything=True) == requests - 2
    rows = await _rows_of(pool, address)
    assert len(rows) == 4
    assert sum(r["attempts"] or 1 for r in rows) == requests
    counted_rows = [r for r in rows if r["attempts"] is not None]
    assert sorted((r["status"], r["attempts"]) for r in counted_rows) == [
        (401, BURST - 1),
        (429, requests - BURST - 1),
    ]
    for row in counted_rows:
        assert (row["action"], row["route"]) == ("search", "/patient-events/{patient_id}")
        assert (row["outcome"], row["client_address"]) == ("denied", address)
        assert row["first_attempt_at"] <= row["last_attempt_at"] <= row["recorded_at"]
        assert (row["request_id"], row["patient_id"]) == (None, None)
    report = await audit_service.verify(pool, UNKNOWN_TENANT)
    assert report.ok, report


async def test_valid_requests_at_once_from_one_address_are_not_limited(
    guarded_app: FastAPI,
) -> None:
    # Only failures are charged: a busy agent sending many requests at once is not a flood.
    token = await make_token(guarded_app.state.runtime.pool, new_tenant())
    async with _client(guarded_app, client_address()[0]) as client:
        responses = await asyncio.gather(
            *(client.get("/patient-events/P-1", headers=bearer(token)) for _ in range(6 * BURST))
        )
    assert {r.status_code for r in responses} == {404}


async def test_other_addresses_and_known_keys_are_not_locked_out(guarded_app: FastAPI) -> None:
    pool = guarded_app.state.runtime.pool
    tenant, patient = new_tenant(), new_patient()
    token = await make_token(pool, tenant)
    body = {"patient_id": patient, "event_type": "x", "payload": {}}
    flooded = client_address()[0]
    async with (
        _client(guarded_app, flooded) as flooder,
        _client(guarded_app, client_address()[0]) as other,
    ):
        for _ in range(BURST + 3):
            await flooder.get("/patient-events/P-1", headers=MADE_UP)
        assert (await flooder.get("/patient-events/P-1", headers=MADE_UP)).status_code == 429
        # Another address: its own bucket.
        posted = await other.post("/patient-events", json=body, headers=bearer(token))
        assert posted.status_code == 200
        # The flooded address, with a key this process has just found valid: no lookup, served.
        # (The cache holds keys only while its listener is connected; a key's creation
        # empties it when its notification arrives, so read until the key stays cached.)
        cache = guarded_app.state.runtime.principal_cache
        for _ in range(100):
            read = await other.get(f"/patient-events/{patient}", headers=bearer(token))
            assert read.status_code == 200
            if key_service.is_cached(token, cache):
                break
            await asyncio.sleep(0.05)
        assert key_service.is_cached(token, cache)
        served = await flooder.get(f"/patient-events/{patient}", headers=bearer(token))
        assert served.status_code == 200, served.text
        # ... but a valid key it has not seen waits like the flood (it would need a lookup).
        unseen = await make_token(pool, tenant)
        waits = await flooder.get(f"/patient-events/{patient}", headers=bearer(unseen))
        assert waits.status_code == 429


async def test_shutdown_writes_the_pending_counts(database_url: str) -> None:
    application = create_app(_settings(database_url))
    async with _running(application):
        pool = application.state.runtime.pool
        address = client_address()[0]
        async with _client(application, address) as client:
            for _ in range(12):
                await client.get("/audit-events", headers=MADE_UP)
        assert len(await _rows_of(pool, address)) == 2
    # The pool is closed with the app: read with a fresh app's.
    reader = create_app(_settings(database_url))
    async with _running(reader):
        rows = await _rows_of(reader.state.runtime.pool, address)
        assert sorted((r["status"], r["attempts"] or 1) for r in rows) == [
            (401, 1),
            (401, BURST - 1),
            (429, 1),
            (429, 12 - BURST - 1),
        ]
        assert (await audit_service.verify(reader.state.runtime.pool, UNKNOWN_TENANT)).ok


async def test_a_window_that_ends_is_flushed_and_reopens(database_url: str) -> None:
    application = create_app(
        _settings(database_url).model_copy(update={"audit_repeat_window_seconds": 0.3})
    )
    address = client_address()[0]
    async with (
        _running(application),
        _client(application, address) as client,
    ):
        pool = application.state.runtime.pool
        for _ in range(3):
            assert (await client.get("/audit-events", headers=MADE_UP)).status_code == 401
        # The flush task runs every min(window, 5 s) and writes the windows that have ended.
        for _ in range(60):
            rows = await _rows_of(pool, address)
            if len(rows) > 1:
                break
            await asyncio.sleep(0.05)
        assert [(r["status"], r["attempts"]) for r in rows] == [(401, None), (401, 2)]
        assert (await client.get("/audit-events", headers=MADE_UP)).status_code == 401
        rows = await _rows_of(pool, address)
        assert [r["attempts"] for r in rows] == [None, 2, None]  # a new window: written at once


async def test_off_when_configured_so(database_url: str) -> None:
    application = create_app(
        _settings(database_url).model_copy(
            update={"auth_failure_rate_per_second": 0, "audit_repeat_window_seconds": 0}
        )
    )
    address = client_address()[0]
    async with (
        _running(application),
        _client(application, address) as client,
    ):
        statuses = [
            (await client.get("/audit-events", headers=MADE_UP)).status_code
            for _ in range(BURST + 2)
        ]
        assert statuses == [401] * (BURST + 2)
        assert len(await _rows_of(application.state.runtime.pool, address)) == BURST + 2


async def test_counted_rows_show_their_count_in_every_format(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    # Counted rows are written for the unknown tenant; one stored for a tenant shows how
    # GET /audit-events renders them.
    tenant = new_tenant()
    first = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with connection(pool, tenant) as conn:
        await audit_store.insert_repeated_attempts(
            conn,
            tenant_id=tenant,
            repeats=[
                RepeatedAttempts(
                    client_address="192.0.2.9",
                    route="/patient-events",
                    action=AuditAction.CREATE,
                    outcome=AuditOutcome.DENIED,
                    status=401,
                    attempts=1234,
                    first_attempt_at=first,
                    last_attempt_at=first + timedelta(minutes=1),
                )
            ],
        )
    headers = bearer(await make_token(pool, tenant, "audit:read"))
    listed = (await client.get("/audit-events", headers=headers)).json()
    assert [(r["status"], r["attempts"]) for r in listed] == [(401, 1234)]
    assert listed[0]["first_attempt_at"] == "2026-01-02T03:04:05Z"
    assert listed[0]["last_attempt_at"] == "2026-01-02T03:05:05Z"
    bundle = (await client.get("/audit-events?format=fhir", headers=headers)).json()
    # (Newest first: each read above is audited too, so the counted row is the oldest.)
    resource = bundle["entry"][-1]["resource"]
    assert resource["id"] == listed[-1]["id"]
    assert resource["extension"][0]["valueInteger"] == 1234
    assert resource["period"]["start"].startswith("2026-01-02T03:04:05")
    assert "attempts=1234" in resource["outcomeDesc"]
    lines = (await client.get("/audit-events?format=ndjson", headers=headers)).text.splitlines()
    assert '"valueInteger":1234' in lines[-1]
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["AuditEvent"]
    assert {"attempts", "first_attempt_at", "last_attempt_at"} <= set(schema["properties"])
    assert (await audit_service.verify(pool, tenant)).ok


async def test_oversized_headers_repeated_are_counted_too(guarded_app: FastAPI) -> None:
    # 431 is refused before the credential is read: an unknown caller's attempt like a 401.
    address = client_address()[0]
    huge = {"X-Padding": "x" * 40_000}
    async with _client(guarded_app, address) as client:
        statuses = [(await client.get("/audit-events", headers=huge)).status_code for _ in range(9)]
    assert statuses == [431] * 9
    await guarded_app.state.runtime.attempts.flush(guarded_app.state.runtime.pool, everything=True)
    rows = await _rows_of(guarded_app.state.runtime.pool, address)
    assert [(r["status"], r["attempts"], r["route"]) for r in rows] == [
        (431, None, "/audit-events"),
        (431, 8, "/audit-events"),
    ]


# Review of the counting (issue 9, item 8): a clock that steps back, a flush that is
# cancelled or fails, must neither lose counted attempts nor write them twice.


def _absorb(counter: AttemptCounter, address: str, times: int) -> None:
    audit = AuditContext(request_id="r", client_address=address)
    audit.route = "/patient-events/{patient_id}"
    for _ in range(times):
        counter.absorb(audit, action=AuditAction.SEARCH, status=401)


async def _counted(pool: Pool, addresses: list[str]) -> int:
    rows = [r for r in await audit_rows(pool, UNKNOWN_TENANT) if r["client_address"] in addresses]
    return sum(r["attempts"] for r in rows if r["attempts"])


async def test_a_wall_clock_stepping_back_keeps_every_count(guarded_app: FastAPI) -> None:
    pool = guarded_app.state.runtime.pool
    now = [datetime(2026, 1, 1, 12, tzinfo=UTC)]

    def stepping_back() -> datetime:
        now[0] -= timedelta(seconds=1)  # an NTP correction between each attempt
        return now[0]

    counter = AttemptCounter(window=3600, now=stepping_back)
    address = client_address()[0]
    _absorb(counter, address, 4)  # the first is written at once by the caller; 3 counted
    assert await counter.flush(pool, everything=True) == 3
    [row] = [r for r in await _rows_of(pool, address) if r["attempts"]]
    assert row["first_attempt_at"] <= row["last_attempt_at"]
    assert counter.pending() == 0


async def test_a_cancelled_flush_neither_loses_nor_doubles_its_rows(
    guarded_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = guarded_app.state.runtime.pool
    counter = AttemptCounter(window=3600)
    addresses = [client_address()[0], client_address()[0]]
    for address in addresses:
        _absorb(counter, address, 4)
    made = counter.pending()
    insert = audit_store.insert_repeated_attempts

    async def slow(conn: Connection, *, tenant_id: str, repeats: list[RepeatedAttempts]) -> None:
        await insert(conn, tenant_id=tenant_id, repeats=repeats[:1])
        await asyncio.sleep(0.5)  # the cancel lands here, between the rows
        await insert(conn, tenant_id=tenant_id, repeats=repeats[1:])

    monkeypatch.setattr(audit_store, "insert_repeated_attempts", slow)
    flushing = asyncio.ensure_future(counter.flush(pool, everything=True))
    await asyncio.sleep(0.2)
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    monkeypatch.setattr(audit_store, "insert_repeated_attempts", insert)
    await counter.flush(pool, everything=True)  # as at shutdown
    assert await _counted(pool, addresses) == made == 6


async def test_a_failed_flush_keeps_its_counts_for_the_next(
    guarded_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = guarded_app.state.runtime.pool
    counter = AttemptCounter(window=3600)
    address = client_address()[0]
    _absorb(counter, address, 3)
    insert = audit_store.insert_repeated_attempts

    async def half_then_fail(
        conn: Connection, *, tenant_id: str, repeats: list[RepeatedAttempts]
    ) -> None:
        await insert(conn, tenant_id=tenant_id, repeats=repeats)
        raise RuntimeError("synthetic failure after the insert")  # rolled back with it

    monkeypatch.setattr(audit_store, "insert_repeated_attempts", half_then_fail)
    with pytest.raises(RuntimeError):
        await counter.flush(pool, everything=True)
    assert counter.pending() == 2
    monkeypatch.setattr(audit_store, "insert_repeated_attempts", insert)
    assert await counter.flush(pool, everything=True) == 2
    assert await _counted(pool, [address]) == 2  # once: the failed transaction left nothing


async def test_the_periodic_flush_outlives_a_failure() -> None:
    calls: list[int] = []

    async def flush() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("synthetic")

    loop = asyncio.ensure_future(every(0.01, flush, unavailable=lambda: None))
    await asyncio.sleep(0.2)
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert len(calls) > 2  # it went on after the first one failed
