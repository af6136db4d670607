"""Corrections and retractions append new events; history and as_of show what was there."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import (
    audit_rows,
    bearer,
    count_events,
    make_token,
    new_patient,
    new_tenant,
    record,
)

pytestmark = pytest.mark.e2e


async def _lab(client: httpx.AsyncClient, headers: dict[str, str], patient: str) -> int:
    return await record(client, headers, patient, "lab_result", {"test": "HbA1c", "value": 8.4})


async def test_a_correction_supersedes_and_the_original_stays(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    original = await _lab(client, headers, patient)
    before = datetime.now(UTC)
    corrected = await client.post(
        f"/events/{original}/corrections",
        json={"payload": {"test": "HbA1c", "value": 7.4}, "reason": "transcription error"},
        headers=headers,
    )
    assert corrected.status_code == 200, corrected.text
    revision = corrected.json()
    assert revision["supersedes"] == original
    assert revision["status"] == "amended"
    assert revision["reason"] == "transcription error"
    assert revision["patient_id"] == patient
    assert revision["event_type"] == "lab_result"

    current = (await client.get(f"/patient-events/{patient}", headers=headers)).json()
    assert [e["id"] for e in current] == [revision["id"]]
    history = (
        await client.get(f"/patient-events/{patient}?include=history", headers=headers)
    ).json()
    assert sorted(e["id"] for e in history) == sorted([original, revision["id"]])
    # The original row is untouched and still readable by id.
    kept = (await client.get(f"/events/{original}", headers=headers)).json()
    assert kept["payload"]["value"] == 8.4
    # Time travel: what the record said before the correction.
    then = (
        await client.get(
            f"/patient-events/{patient}", params={"as_of": before.isoformat()}, headers=headers
        )
    ).json()
    assert [e["id"] for e in then] == [original]
    assert await count_events(pool, tenant) == 2
    rows = await audit_rows(pool, tenant)
    assert ("update", [revision["id"], original]) in [(r["action"], r["event_ids"]) for r in rows]


async def test_correcting_a_superseded_version_is_409_naming_the_current(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    original = await _lab(client, headers, patient)
    body = {"payload": {"value": 7.0}, "reason": "first fix"}
    first = (
        await client.post(f"/events/{original}/corrections", json=body, headers=headers)
    ).json()
    second = (
        await client.post(f"/events/{first['id']}/corrections", json=body, headers=headers)
    ).json()
    stale = await client.post(f"/events/{original}/corrections", json=body, headers=headers)
    assert stale.status_code == 409
    assert stale.json()["code"] == "event-superseded"
    assert stale.json()["current_version"] == second["id"]
    assert str(second["id"]) in stale.json()["detail"]


async def test_concurrent_corrections_only_one_wins(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    original = await _lab(client, headers, patient)
    responses = await asyncio.gather(
        *(
            client.post(
                f"/events/{original}/corrections",
                json={"payload": {"value": float(i)}, "reason": f"fix {i}"},
                headers=headers,
            )
            for i in range(8)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    assert await count_events(pool, tenant) == 2


async def test_a_retraction_removes_it_from_current_lists(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    keep = await _lab(client, headers, patient)
    wrong = await _lab(client, headers, patient)
    retracted = await client.post(
        f"/events/{wrong}/retractions", json={"reason": "wrong patient"}, headers=headers
    )
    assert retracted.status_code == 200
    assert retracted.json()["status"] == "entered-in-error"
    current = (await client.get(f"/patient-events/{patient}", headers=headers)).json()
    assert [e["id"] for e in current] == [keep]
    history = (
        await client.get(f"/patient-events/{patient}?include=history", headers=headers)
    ).json()
    assert len(history) == 3
    again = await client.post(
        f"/events/{retracted.json()['id']}/corrections",
        json={"payload": {}, "reason": "x"},
        headers=headers,
    )
    assert again.status_code == 409


async def test_revision_bad_input_and_access(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    original = await _lab(client, headers, patient)
    cases = [
        ({"payload": {"loinc": "bad"}, "reason": "x"}, 422),
        ({"payload": {"value": 1}}, 422),
        ({"payload": {"value": 1}, "reason": ""}, 422),
        ({"payload": [1], "reason": "x"}, 422),
        ({"payload": {"value": 1}, "reason": "x", "status": "final"}, 422),
    ]
    for body, status in cases:
        response = await client.post(f"/events/{original}/corrections", json=body, headers=headers)
        assert response.status_code == status, body
    other = bearer(await make_token(pool, new_tenant()))
    hidden = await client.post(
        f"/events/{original}/retractions", json={"reason": "x"}, headers=other
    )
    assert hidden.status_code == 404
    reader = bearer(await make_token(pool, tenant, "events:read"))
    denied = await client.post(
        f"/events/{original}/retractions", json={"reason": "x"}, headers=reader
    )
    assert denied.status_code == 403
    assert await count_events(pool, tenant) == 1
