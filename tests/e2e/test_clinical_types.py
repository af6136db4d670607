"""Known clinical event types validate their payloads; unknown types stay free JSON."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import bearer, count_events, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

GOOD: list[tuple[str, dict[str, Any]]] = [
    ("lab_result", {"test": "HbA1c", "value": 8.4, "unit": "%", "flag": "high"}),  # the seed's
    (
        "lab_result",
        {"loinc": "4548-4", "value": 8.4, "unit": "%", "reference_range": {"low": 4, "high": 5.6}},
    ),
    (
        "vital_signs",
        {
            "blood_pressure": {"systolic": 142, "diastolic": 91},
            "heart_rate": {"value": 88, "unit": "/min"},
            "spo2": {"value": 97, "unit": "%"},
        },
    ),
    ("triage_note", {"symptoms": ["fever", "cough"], "severity": "moderate"}),  # the seed's
    ("medication", {"rxnorm": "860975", "name": "metformin", "dose": "500 mg", "status": "active"}),
    ("condition", {"icd10": "E11.9", "snomed": "44054006", "clinical_status": "active"}),
    ("allergy", {"substance": "penicillin", "reaction": "rash", "severity": "moderate"}),
    ("encounter", {"type": "office visit", "start": "2026-11-20", "summary": "follow-up"}),
    ("document", {"title": "discharge summary", "content_type": "text/plain", "text": "..."}),
    ("agent_decision", {"agent": "intake-bot", "action": "escalate", "relied_on": [1, 2]}),
    ("claim_action", {"anything": {"goes": ["here", 1, None]}}),  # unknown: free JSON
    ("lab_result", {"test": "HbA1c", "value": 8.4, "lab_note": "kept as sent"}),  # extras kept
]

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("lab_result", {"loinc": "HBA1C"}, "payload.loinc"),
    ("lab_result", {"flag": "very high"}, "payload.flag"),
    ("lab_result", {"reference_range": {"low": "four"}}, "payload.reference_range.low"),
    (
        "vital_signs",
        {"blood_pressure": {"systolic": "high", "diastolic": 80}},
        "payload.blood_pressure.systolic",
    ),
    ("vital_signs", {"heart_rate": {"unit": "/min"}}, "payload.heart_rate.value"),
    ("triage_note", {"severity": "meh"}, "payload.severity"),
    ("triage_note", {"symptoms": "fever"}, "payload.symptoms"),
    ("medication", {"rxnorm": "R-12"}, "payload.rxnorm"),
    ("medication", {"status": "taking"}, "payload.status"),
    ("condition", {"icd10": "11.9"}, "payload.icd10"),
    ("allergy", {"severity": "deadly"}, "payload.severity"),
    ("encounter", {"start": "last tuesday"}, "payload.start"),
    ("agent_decision", {"relied_on": [0]}, "payload.relied_on.0"),
]


@pytest.mark.parametrize(("event_type", "payload"), GOOD)
async def test_good_payloads_are_stored_as_sent(
    client: httpx.AsyncClient, pool: Pool, event_type: str, payload: dict[str, Any]
) -> None:
    headers = bearer(await make_token(pool, new_tenant()))
    body = {"patient_id": new_patient(), "event_type": event_type, "payload": payload}
    response = await client.post("/patient-events", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["payload"] == payload


@pytest.mark.parametrize(("event_type", "payload", "field"), BAD)
async def test_bad_payloads_name_the_field(
    client: httpx.AsyncClient, pool: Pool, event_type: str, payload: dict[str, Any], field: str
) -> None:
    tenant = new_tenant()
    headers = bearer(await make_token(pool, tenant))
    body = {"patient_id": new_patient(), "event_type": event_type, "payload": payload}
    response = await client.post("/patient-events", json=body, headers=headers)
    assert response.status_code == 422
    # A union names each branch it tried (payload.start.date, payload.start.datetime).
    assert any(e["field"].startswith(field) for e in response.json()["errors"])
    assert await count_events(pool, tenant) == 0


async def test_event_types_are_listed_with_their_schemas(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    headers = bearer(await make_token(pool, new_tenant(), "events:read"))
    listed = (await client.get("/event-types", headers=headers)).json()
    names = [t["event_type"] for t in listed["types"]]
    assert names == [
        "lab_result",
        "vital_signs",
        "triage_note",
        "medication",
        "condition",
        "allergy",
        "encounter",
        "document",
        "agent_decision",
        "workflow_transition",  # listed so that readers know its shape; only the service writes it
    ]
    lab = listed["types"][0]["schema"]
    assert {"loinc", "value", "unit", "flag", "reference_range"} <= lab["properties"].keys()
    assert (await client.get("/event-types")).status_code == 401
