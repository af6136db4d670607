"""429 with Retry-After and RateLimit-* headers when a principal goes over its limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from carelog.api.app import create_app
from carelog.settings import Settings
from tests.factories import audit_rows, bearer, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def limited_app(database_url: str) -> AsyncIterator[FastAPI]:
    settings = Settings(
        database_url=database_url,
        rate_limit_per_second=0.5,
        rate_limit_burst=3,
        pool_min_size=1,
        pool_max_size=2,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_over_the_limit_is_429(limited_app: FastAPI) -> None:
    tenant = new_tenant()
    pool = limited_app.state.pool
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
        # Anonymous requests carry no rate-limit headers (no principal to count against).
        assert "ratelimit-limit" not in (await client.get("/patient-events/P-1")).headers
    rows = await audit_rows(pool, tenant)
    assert [(r["outcome"], r["status"]) for r in rows][-2] == ("denied", 429)
