"""The seed tutorial's client script, word for word but for one Authorization header."""

from __future__ import annotations

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import bearer, count_events, make_token, new_tenant

pytestmark = pytest.mark.e2e


async def test_seed_testing_the_integration(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = bearer(await make_token(pool, tenant))
    event = {
        "patient_id": "P-2048",
        "event_type": "triage_note",
        "payload": {"symptoms": ["fever", "cough"], "severity": "moderate"},
    }

    r1 = await client.post("/patient-events", json=event, headers=headers)
    assert r1.status_code == 200
    r2 = await client.get("/patient-events/P-2048", headers=headers)
    assert r2.status_code == 200

    rows = r2.json()
    assert isinstance(rows, list)
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == r1.json()["id"]
    assert row["patient_id"] == "P-2048"
    assert row["event_type"] == "triage_note"
    assert row["payload"] == {"symptoms": ["fever", "cough"], "severity": "moderate"}
    assert row["created_at"].startswith("20")
    assert row["occurred_at"] == row["created_at"]
    assert row["recorded_by"].startswith("key:")
    assert await count_events(pool, tenant) == 1


async def test_seed_agent_workflow_lab_result(client: httpx.AsyncClient, pool: Pool) -> None:
    headers = bearer(await make_token(pool, new_tenant()))
    payload = {
        "patient_id": "P-10293",
        "event_type": "lab_result",
        "payload": {"test": "HbA1c", "value": 8.4, "unit": "%", "flag": "high"},
    }
    create = await client.post("/patient-events", json=payload, headers=headers)
    assert create.status_code == 200
    body = create.json()
    assert {"id", "patient_id", "event_type", "payload", "created_at"} <= body.keys()
    assert body["payload"]["value"] == 8.4

    read = await client.get("/patient-events/P-10293", headers=headers)
    assert read.status_code == 200
    assert [r["id"] for r in read.json()] == [body["id"]]


async def test_list_is_newest_first_and_twenty_by_default(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    headers = bearer(await make_token(pool, new_tenant()))
    ids = []
    for i in range(25):
        r = await client.post(
            "/patient-events",
            json={"patient_id": "P-1", "event_type": "vital_signs", "payload": {"n": i}},
            headers=headers,
        )
        ids.append(r.json()["id"])
    read = await client.get("/patient-events/P-1", headers=headers)
    rows = read.json()
    assert len(rows) == 20
    assert [r["id"] for r in rows] == list(reversed(ids))[:20]
    assert 'rel="next"' in read.headers["link"]
