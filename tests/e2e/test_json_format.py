"""Every JSON response has one byte format: compact, as pydantic and orjson write it.

Events are rendered by PostgreSQL, whose ``json`` text spaces its separators
(``{"id" : 1, "payload" : {"a": 1}}``); a client comparing bodies byte for byte, or a cache
keyed on them, must not see two formats for the same event depending on the route.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import bearer, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

# Separators and colons inside strings must survive compaction untouched.
PAYLOAD = {
    "text": 'Fièvre, toux : "sévère", {not: json}, [1, 2]',
    "loinc": "4548-4",
    "value": 8.4,
    "nested": {"list": [1, 2.5, None, True, {"k": "v, w: x"}], "empty": {}, "none": []},
}


def compact(value: Any) -> bytes:
    """The compact JSON text of ``value`` (the test's own oracle: the standard library)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def assert_compact(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.content == compact(response.json()), response.text[:300]


def assert_compact_lines(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    lines = response.content.splitlines()
    assert lines
    for line in lines:
        assert line == compact(json.loads(line)), line[:300]


async def test_event_routes_answer_compact_json(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant, "events:read", "events:write"))
    body = {"patient_id": patient, "event_type": "triage_note", "payload": PAYLOAD}

    created = await client.post("/patient-events", json=body, headers=headers)
    assert_compact(created)
    assert created.json()["payload"] == PAYLOAD
    event_id = created.json()["id"]
    replayed = await client.post(
        "/patient-events", json=body, headers={**headers, "Idempotency-Key": "fmt-1"}
    )
    assert_compact(replayed)
    again = await client.post(
        "/patient-events", json=body, headers={**headers, "Idempotency-Key": "fmt-1"}
    )
    assert again.headers["idempotent-replayed"] == "true"
    assert_compact(again)

    single = await client.get(f"/events/{event_id}", headers=headers)
    assert_compact(single)
    listed = await client.get(f"/patient-events/{patient}", headers=headers)
    assert_compact(listed)
    history = await client.get(f"/patient-events/{patient}?include=history", headers=headers)
    assert_compact(history)
    by_type = await client.get(
        f"/patient-events/{patient}?event_type=triage_note&event_type=x", headers=headers
    )
    assert_compact(by_type)
    found = await client.get(f"/search?q=toux&patient_id={patient}", headers=headers)
    assert_compact(found)
    assert {e["id"] for e in found.json()} == {event_id, replayed.json()["id"]}
    coded = await client.get(f"/search?code=loinc:4548-4&patient_id={patient}", headers=headers)
    assert_compact(coded)

    # The list holds the same bytes as the single read, event for event.
    [same] = [e for e in listed.json() if e["id"] == event_id]
    assert single.content == compact(same)
    assert single.content in listed.content
    assert single.content in found.content

    corrected = await client.post(
        f"/events/{event_id}/corrections",
        json={"payload": {**PAYLOAD, "value": 8.5}, "reason": "typo, fixed: value"},
        headers=headers,
    )
    assert_compact(corrected)
    retracted = await client.post(
        f"/events/{corrected.json()['id']}/retractions",
        json={"reason": "wrong patient, sorry"},
        headers=headers,
    )
    assert_compact(retracted)


async def test_every_other_json_route_is_compact_too(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant, "admin"))
    body = {"patient_id": patient, "event_type": "lab_result", "payload": PAYLOAD}
    assert (await client.post("/patient-events", json=body, headers=headers)).is_success

    assert_compact(await client.get("/healthz"))
    assert_compact(await client.get("/readyz"))
    assert_compact(await client.get("/event-types", headers=headers))
    assert_compact(await client.get(f"/patients/{patient}/context", headers=headers))
    assert_compact(await client.get(f"/audit-events?patient_id={patient}", headers=headers))
    assert_compact(
        await client.get(f"/audit-events?patient_id={patient}&format=fhir", headers=headers)
    )
    assert_compact_lines(
        await client.get(f"/audit-events?patient_id={patient}&format=ndjson", headers=headers)
    )
    assert_compact(await client.get("/audit-events/verify", headers=headers))
    problem = await client.get("/events/1", headers={})
    assert problem.status_code == 401
    assert problem.content == compact(problem.json())
