"""Idempotency-Key: retries replay the first response, also when they arrive concurrently."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from carelog.storage.db import Pool, connection
from tests.factories import bearer, count_events, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e


def _event(patient: str, value: float = 8.4) -> dict[str, object]:
    return {"patient_id": patient, "event_type": "lab_result", "payload": {"value": value}}


async def test_retry_returns_the_first_event(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = {**bearer(await make_token(pool, tenant)), "Idempotency-Key": "retry-1"}
    body = _event(new_patient())
    first = await client.post("/patient-events", json=body, headers=headers)
    second = await client.post("/patient-events", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count_events(pool, tenant) == 1


async def test_same_key_different_body_is_409(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = {**bearer(await make_token(pool, tenant)), "Idempotency-Key": "k-409"}
    patient = new_patient()
    assert (await client.post("/patient-events", json=_event(patient), headers=headers)).is_success
    for changed in [_event(patient, 9.9), _event(new_patient())]:
        response = await client.post("/patient-events", json=changed, headers=headers)
        assert response.status_code == 409
        assert response.json()["code"] == "idempotency-key-reused"
    assert await count_events(pool, tenant) == 1


async def test_keys_are_per_tenant(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant_a, tenant_b = new_tenant(), new_tenant()
    body = _event(new_patient())
    for tenant in (tenant_a, tenant_b):
        headers = {**bearer(await make_token(pool, tenant)), "Idempotency-Key": "shared"}
        assert (await client.post("/patient-events", json=body, headers=headers)).is_success
        assert await count_events(pool, tenant) == 1


async def test_twenty_concurrent_retries_write_one_row(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    key = f"concurrent-{uuid.uuid4()}"
    headers = {**bearer(await make_token(pool, tenant)), "Idempotency-Key": key}
    body = _event(new_patient())

    responses = await asyncio.gather(
        *(client.post("/patient-events", json=body, headers=headers) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in responses) == 1
    assert await count_events(pool, tenant) == 1
    async with connection(pool, tenant) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM idempotency_keys WHERE tenant_id = %s", (tenant,)
        )
        row = await cur.fetchone()
    assert row is not None
    assert row[0] == 1


async def test_concurrent_conflicting_bodies_write_one_row(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = {**bearer(await make_token(pool, tenant)), "Idempotency-Key": "race"}
    patient = new_patient()
    responses = await asyncio.gather(
        *(
            client.post("/patient-events", json=_event(patient, float(i)), headers=headers)
            for i in range(10)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 9
    assert await count_events(pool, tenant) == 1
