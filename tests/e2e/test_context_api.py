"""GET /patients/{patient_id}/context over HTTP: sections, citations, formats, budget,
time travel, sensitivity, tenancy and its audit row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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


def _lines(response: httpx.Response, name: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    lines: list[dict[str, Any]] = next(
        s["lines"] for s in response.json()["sections"] if s["name"] == name
    )
    return lines


async def test_every_section_is_the_newest_of_what_the_reader_may_see_and_asked_for(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    """Twelve newer triage notes, six of them labelled, and one older document and one older
    unlabelled note: `types=document` finds the document, and a reader without the label
    sees every note it may see, not the labelled ones' places left empty."""
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    document = await record(
        client,
        writer,
        patient,
        "document",
        {"title": "discharge letter", "text": "synthetic"},
        occurred_at="2026-01-01T08:00:00Z",
    )
    visible = await record(
        client,
        writer,
        patient,
        "triage_note",
        {"text": "seen by nurse"},
        occurred_at="2026-01-02T08:00:00Z",
    )
    for day in range(10, 22):
        await record(
            client,
            writer,
            patient,
            "triage_note",
            {"text": f"note {day}"},
            occurred_at=f"2026-01-{day}T08:00:00Z",
            labels=["BH"] if day % 2 else [],
        )
    admin = bearer(await make_token(pool, tenant, "admin"))
    only_documents = await client.get(
        f"/patients/{patient}/context", params={"types": "document"}, headers=admin
    )
    assert [line["cites"] for line in _lines(only_documents, "notes")] == [[document]]

    reader = bearer(await make_token(pool, tenant, "events:read"))
    seen = await client.get(f"/patients/{patient}/context", headers=reader)
    notes = _lines(seen, "notes")
    assert len(notes) == 8  # the six unlabelled new ones, the older note and the document
    assert [visible] in [line["cites"] for line in notes]
    assert seen.json()["withheld"] == 6
    listed = await client.get(f"/patient-events/{patient}", headers=reader)
    assert visible in [e["id"] for e in listed.json()]


async def test_until_bounds_clinical_time_and_statuses_are_checked(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    started = await record(
        client,
        headers,
        patient,
        "medication",
        {"rxnorm": "860975", "name": "metformin", "status": "active"},
        occurred_at="2026-01-05T08:00:00Z",
    )
    await record(
        client,
        headers,
        patient,
        "medication",
        {"name": "Metformin", "status": "stopped"},  # the stop, recorded by name only
        occurred_at="2026-03-01T08:00:00Z",
    )
    allergy = await record(
        client,
        headers,
        patient,
        "allergy",
        {"substance": "sulfa", "verification_status": "unconfirmed"},
        occurred_at="2026-01-05T08:00:00Z",
    )
    on_february_1 = await client.get(
        f"/patients/{patient}/context", params={"until": "2026-02-02T00:00:00Z"}, headers=headers
    )
    assert [line["cites"] for line in _lines(on_february_1, "medications")] == [[started]]
    assert on_february_1.json()["until"] == "2026-02-02T00:00:00Z"
    assert (
        _lines(await client.get(f"/patients/{patient}/context", headers=headers), "medications")
        == []
    )
    refuted = await client.post(
        f"/events/{allergy}/corrections",
        json={
            "payload": {"substance": "sulfa", "verification_status": "refuted"},
            "reason": "tolerated a challenge dose",
        },
        headers=headers,
    )
    assert refuted.status_code == 200, refuted.text
    now = await client.get(f"/patients/{patient}/context", headers=headers)
    assert _lines(now, "allergies") == []
    for payload in (
        {"substance": "sulfa", "verification_status": "maybe"},
        {"substance": "sulfa", "clinical_status": "gone"},
        {"substance": "sulfa", "criticality": "extreme"},
    ):
        bad = await client.post(
            "/patient-events",
            json={"patient_id": patient, "event_type": "allergy", "payload": payload},
            headers=headers,
        )
        assert bad.status_code == 422, payload
        assert bad.json()["code"] == "validation-failed"
    for query in ("until=yesterday", "until=2026-02-02T00:00:00"):  # a timezone is required
        response = await client.get(f"/patients/{patient}/context?{query}", headers=headers)
        assert response.status_code == 422, query
