"""GET /patients/{patient_id}/context over HTTP: sections, citations, formats, budget,
time travel, sensitivity, tenancy and its audit row."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import audit_rows, bearer, make_token, new_patient, new_tenant, record

pytestmark = pytest.mark.e2e


async def test_context_for_a_patient(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    allergy = await record(client, headers, patient, "allergy", {"substance": "penicillin"})
    first = await record(
        client,
        headers,
        patient,
        "lab_result",
        {"test": "HbA1c", "value": 9.1, "unit": "%"},
        occurred_at="2026-01-01T08:00:00Z",
    )
    second = await record(
        client,
        headers,
        patient,
        "lab_result",
        {"test": "HbA1c", "value": 8.4, "unit": "%", "flag": "high"},
        occurred_at="2026-03-01T08:00:00Z",
    )
    await record(
        client, headers, patient, "triage_note", {"symptoms": ["fever"], "severity": "low"}
    )
    await record(client, headers, patient, "condition", {"name": "depression"}, labels=["BH"])
    before_fix = datetime.now(UTC)
    fixed = await client.post(
        f"/events/{second}/corrections",
        json={"payload": {"test": "HbA1c", "value": 7.9, "unit": "%"}, "reason": "typo"},
        headers=headers,
    )
    corrected = fixed.json()["id"]

    reader = bearer(await make_token(pool, tenant, "events:read"))
    response = await client.get(f"/patients/{patient}/context", headers=reader)
    assert response.status_code == 200
    context = response.json()
    sections = {s["name"]: s["lines"] for s in context["sections"]}
    assert sections["allergies"][0]["cites"] == [allergy]
    assert sections["labs"][0]["cites"] == [corrected, first]
    assert "7.9" in sections["labs"][0]["text"]
    assert context["withheld"] == 1
    assert response.headers["carelog-withheld-count"] == "1"
    assert "depression" not in response.text

    then = await client.get(
        f"/patients/{patient}/context", params={"as_of": before_fix.isoformat()}, headers=reader
    )
    assert {s["name"]: s["lines"] for s in then.json()["sections"]}["labs"][0]["cites"] == [
        second,
        first,
    ]

    markdown = await client.get(f"/patients/{patient}/context?format=markdown", headers=reader)
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "## Allergies" in markdown.text
    assert f"[events {allergy}]" in markdown.text

    budget = await client.get(f"/patients/{patient}/context?max_tokens=60", headers=reader)
    assert budget.json()["omitted"]
    assert budget.json()["estimated_tokens"] <= 60 or not budget.json()["sections"]

    rows = [
        r for r in await audit_rows(pool, tenant) if r["route"] == "/patients/{patient_id}/context"
    ]
    assert rows[0]["action"] == "read"
    assert set(rows[0]["event_ids"]) >= {allergy, corrected, first}


async def test_context_tenancy_and_bad_input(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    await record(client, headers, patient, "allergy", {"substance": "latex"})
    other = bearer(await make_token(pool, new_tenant()))
    assert (await client.get(f"/patients/{patient}/context", headers=other)).status_code == 404
    assert (
        await client.get(f"/patients/{new_patient()}/context", headers=headers)
    ).status_code == 404
    for query in ["format=pdf", "max_tokens=1", "as_of=yesterday", "types=bad%20type"]:
        response = await client.get(f"/patients/{patient}/context?{query}", headers=headers)
        assert response.status_code == 422, query


async def test_a_decision_can_replay_the_context_it_used(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    lab = await record(client, headers, patient, "lab_result", {"test": "K", "value": 5.9})
    seen = (await client.get(f"/patients/{patient}/context", headers=headers)).json()
    assert seen["as_of"] is not None
    decision = await record(
        client,
        headers,
        patient,
        "agent_decision",
        {
            "agent": "intake-bot",
            "action": "escalate",
            "relied_on": [lab],
            "context_as_of": seen["as_of"],
            "context_query": {"format": "json"},
        },
    )
    # The record moves on: a correction and a new result.
    await client.post(
        f"/events/{lab}/corrections",
        json={"payload": {"test": "K", "value": 4.1}, "reason": "haemolysed"},
        headers=headers,
    )
    await record(client, headers, patient, "lab_result", {"test": "K", "value": 4.0})
    stored = (await client.get(f"/events/{decision}", headers=headers)).json()
    replay = await client.get(
        f"/patients/{patient}/context",
        params={"as_of": stored["payload"]["context_as_of"]},
        headers=headers,
    )
    assert replay.json()["sections"] == seen["sections"]
