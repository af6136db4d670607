"""Filters, keyset pagination, single reads, optional fields and tenant isolation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import bearer, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

BASE = datetime(2026, 1, 1, tzinfo=UTC)


async def _post(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/patient-events", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = re.match(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match[1]


async def test_optional_fields_are_stored(client: httpx.AsyncClient, pool: Pool) -> None:
    headers = bearer(await make_token(pool, new_tenant()))
    patient = new_patient()
    event = await _post(
        client,
        headers,
        patient_id=patient,
        event_type="lab_result",
        payload={"test": "HbA1c"},
        occurred_at="2025-03-04T05:06:07+02:00",
        source="intake-bot/1.2",
    )
    assert event["occurred_at"] == "2025-03-04T03:06:07.000000Z"
    assert event["source"] == "intake-bot/1.2"
    assert event["created_at"] > event["occurred_at"]
    fetched = await client.get(f"/events/{event['id']}", headers=headers)
    assert fetched.status_code == 200
    assert fetched.json() == event


async def test_filters_by_type_and_clinical_time(client: httpx.AsyncClient, pool: Pool) -> None:
    headers = bearer(await make_token(pool, new_tenant()))
    patient = new_patient()
    types = ["lab_result", "vital_signs", "triage_note"]
    for day in range(9):
        await _post(
            client,
            headers,
            patient_id=patient,
            event_type=types[day % 3],
            payload={"day": day},
            occurred_at=(BASE + timedelta(days=day)).isoformat(),
        )

    labs = await client.get(
        f"/patient-events/{patient}",
        params=[("event_type", "lab_result"), ("event_type", "triage_note")],
        headers=headers,
    )
    assert labs.status_code == 200
    assert [r["payload"]["day"] for r in labs.json()] == [8, 6, 5, 3, 2, 0]

    window = await client.get(
        f"/patient-events/{patient}",
        params={
            "since": (BASE + timedelta(days=2)).isoformat(),
            "until": (BASE + timedelta(days=5)).isoformat(),
        },
        headers=headers,
    )
    assert [r["payload"]["day"] for r in window.json()] == [4, 3, 2]

    none = await client.get(
        f"/patient-events/{patient}", params={"event_type": "medication"}, headers=headers
    )
    assert none.status_code == 200
    assert none.json() == []


@pytest.mark.parametrize("types", [[], ["lab_result"], ["lab_result", "vital_signs"]])
async def test_pagination_has_no_gaps_or_duplicates(
    client: httpx.AsyncClient, pool: Pool, types: list[str]
) -> None:
    headers = bearer(await make_token(pool, new_tenant()))
    patient = new_patient()
    expected: list[tuple[int, int]] = []
    for i in range(57):
        # Several events share one clinical time: the id breaks ties.
        event = await _post(
            client,
            headers,
            patient_id=patient,
            event_type=["lab_result", "vital_signs", "note"][i % 3],
            payload={"i": i},
            occurred_at=(BASE + timedelta(hours=i // 4)).isoformat(),
        )
        if not types or event["event_type"] in types:
            expected.append((i // 4, event["id"]))

    seen: list[int] = []
    url: str | None = f"/patient-events/{patient}"
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("limit", 10),
        *(("event_type", t) for t in types),
    ]
    pages = 0
    while url is not None:
        response = await client.get(url, params=params if pages == 0 else None, headers=headers)
        assert response.status_code == 200
        seen.extend(r["id"] for r in response.json())
        url = _next_link(response)
        pages += 1
    # Every event exactly once, newest clinical time first, ties broken by id.
    assert seen == [event_id for _, event_id in sorted(expected, reverse=True)]
    assert pages == -(-len(expected) // 10)


async def test_pages_are_in_clinical_time_order(client: httpx.AsyncClient, pool: Pool) -> None:
    headers = bearer(await make_token(pool, new_tenant()))
    patient = new_patient()
    # Recorded out of clinical order: the list follows occurred_at, newest first.
    for day in [3, 1, 4, 1, 5, 9, 2, 6]:
        await _post(
            client,
            headers,
            patient_id=patient,
            event_type="lab_result",
            payload={"day": day},
            occurred_at=(BASE + timedelta(days=day)).isoformat(),
        )
    days: list[int] = []
    url: str | None = f"/patient-events/{patient}?limit=3"
    while url:
        response = await client.get(url, headers=headers)
        days.extend(r["payload"]["day"] for r in response.json())
        url = _next_link(response)
    assert days == [9, 6, 5, 4, 3, 2, 1, 1]


async def test_limit_bounds(client: httpx.AsyncClient, pool: Pool) -> None:
    headers = bearer(await make_token(pool, new_tenant()))
    patient = new_patient()
    await _post(client, headers, patient_id=patient, event_type="x", payload={})
    assert (await client.get(f"/patient-events/{patient}?limit=500", headers=headers)).is_success
    for bad in ["0", "501", "-1", "ten", "1e3"]:
        response = await client.get(f"/patient-events/{patient}?limit={bad}", headers=headers)
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["field"] == "limit"


async def test_other_tenant_sees_nothing(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant_a, tenant_b = new_tenant(), new_tenant()
    headers_a = bearer(await make_token(pool, tenant_a))
    headers_b = bearer(await make_token(pool, tenant_b))
    patient = new_patient()
    event = await _post(client, headers_a, patient_id=patient, event_type="x", payload={"a": 1})

    by_id = await client.get(f"/events/{event['id']}", headers=headers_b)
    assert by_id.status_code == 404
    assert by_id.json()["code"] == "not-found"
    listed = await client.get(f"/patient-events/{patient}", headers=headers_b)
    assert listed.status_code == 404
    assert patient not in listed.text
    # The same answer as for a patient that exists nowhere.
    unknown = await client.get(f"/patient-events/{new_patient()}", headers=headers_b)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == listed.json()["detail"]
    # Tenant B's own event for the same patient id is B's alone.
    own = await _post(client, headers_b, patient_id=patient, event_type="x", payload={"b": 2})
    listed_b = await client.get(f"/patient-events/{patient}", headers=headers_b)
    assert [r["id"] for r in listed_b.json()] == [own["id"]]
    listed_a = await client.get(f"/patient-events/{patient}", headers=headers_a)
    assert [r["id"] for r in listed_a.json()] == [event["id"]]


async def test_unknown_event_id_is_404(client: httpx.AsyncClient, pool: Pool) -> None:
    headers = bearer(await make_token(pool, new_tenant(), "events:read"))
    response = await client.get("/events/9000000000000", headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
