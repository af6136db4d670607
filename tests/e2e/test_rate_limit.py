"""429 with Retry-After and RateLimit-* headers when a principal goes over its limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import (
    audit_rows,
    bearer,
    make_token,
    new_patient,
    new_tenant,
    rate_limited_app,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def limited_app(database_url: str) -> AsyncIterator[FastAPI]:
    async with rate_limited_app(database_url, per_second=0.5, burst=3) as application:
        yield application


async def test_over_the_limit_is_429(limited_app: FastAPI) -> None:
    tenant = new_tenant()
    pool = limited_app.state.runtime.pool
    token, other = await make_token(pool, tenant), await make_token(pool, tenant)
    transport = httpx.ASGITransport(app=limited_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        patient = new_patient()
        body = {"patient_id": patient, "event_type": "x", "payload": {}}
        responses = [
            await client.post("/patient-events", json=body, headers=bearer(token)) for _ in range(4)
        ]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert [r.headers["ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0"]
        assert all(r.headers["ratelimit-limit"] == "3" for r in responses)
        limited = responses[-1]
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["code"] == "rate-limited"
        # Another principal of the same tenant has its own bucket.
        own = await client.get(f"/patient-events/{patient}", headers=bearer(other))
        assert own.status_code == 200
        # An anonymous request has no principal to count against: its headers are those of
        # its address's failed authentications (docs/security.md).
        anonymous = await client.get("/patient-events/P-1")
        assert anonymous.status_code == 401
        assert anonymous.headers["ratelimit-limit"] == "20"
    rows = await audit_rows(pool, tenant)
    assert [(r["outcome"], r["status"]) for r in rows][-2] == ("denied", 429)


async def test_a_refused_body_takes_one_token_and_is_limited_first(limited_app: FastAPI) -> None:
    """The route authenticates and counts the request before it reads the body, and FastAPI's
    dependency reuses that caller: one token per request (issue 9, item 9)."""
    tenant = new_tenant()
    pool = limited_app.state.runtime.pool
    headers = {**bearer(await make_token(pool, tenant)), "Content-Type": "application/json"}
    transport = httpx.ASGITransport(app=limited_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        bodies = [b'{"patient_id": ', b"x" * (2 * 1024 * 1024), b"{}", b'{"patient_id": ']
        responses = [
            await client.post("/patient-events", content=body, headers=headers) for body in bodies
        ]
    assert [r.status_code for r in responses] == [400, 413, 422, 429]
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0"]
    rows = await audit_rows(pool, tenant)
    assert [(r["outcome"], r["status"]) for r in rows] == [
        ("failed", 400),
        ("failed", 413),
        ("failed", 422),
        ("denied", 429),
    ]
