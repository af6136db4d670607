"""POST /fhir beyond one import: a record exported, imported into another tenant and
exported again says the same; a resource re-imported as corrected or entered in error
revises its event (issue 13)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from carelog.storage.db import Pool
from tests.e2e.fhir_import_kit import (
    bundle,
    clinical_content,
    events_of,
    lab,
    of,
    post,
    statuses,
    summary,
)
from tests.factories import bearer, count_events, make_token, new_patient, new_tenant, record

pytestmark = pytest.mark.e2e


async def test_a_record_exported_imported_elsewhere_and_exported_again_is_the_same(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    source, target, patient = new_tenant(), new_tenant(), new_patient()
    writer = bearer(await make_token(pool, source, "events:read", "events:write", "sensitive:BH"))
    await record(
        client,
        writer,
        patient,
        "lab_result",
        {"test": "Glucose", "loinc": "2345-7", "value": 98, "unit": "mg/dL", "flag": "normal"},
        occurred_at="2026-01-03T09:00:00Z",
    )
    await record(
        client,
        writer,
        patient,
        "vital_signs",
        {
            "heart_rate": {"value": 72, "unit": "/min"},
            "blood_pressure": {"systolic": 120, "diastolic": 80},
            "spo2": {"value": 98, "unit": "%"},
        },
        occurred_at="2026-01-03T09:05:00Z",
    )
    await record(
        client,
        writer,
        patient,
        "condition",
        {"name": "Major depressive disorder", "icd10": "F32.9", "clinical_status": "active"},
        occurred_at="2026-01-04T10:00:00Z",
        labels=["BH"],
    )
    await record(
        client,
        writer,
        patient,
        "triage_note",
        {"text": "Synthetic cough for two days", "symptoms": ["cough"], "severity": "low"},
        occurred_at="2026-01-04T11:00:00Z",
    )
    lab_id = (
        await client.get(
            f"/patient-events/{patient}", params={"event_type": "lab_result"}, headers=writer
        )
    ).json()[0]["id"]
    corrected = await client.post(
        f"/events/{lab_id}/corrections",
        json={
            "payload": {"test": "Glucose", "loinc": "2345-7", "value": 101, "unit": "mg/dL"},
            "reason": "synthetic",
        },
        headers=writer,
    )
    assert corrected.status_code == 200, corrected.text
    exported = (
        await client.get(f"/patients/{patient}/fhir?type=collection", headers=writer)
    ).json()

    importer = bearer(await make_token(pool, target, "events:read", "events:write", "sensitive:BH"))
    response = await post(client, importer, exported)
    assert response.status_code == 200, response.text
    assert summary(response).endswith(" 0 failed")
    again = (await client.get(f"/patients/{patient}/fhir?type=collection", headers=importer)).json()

    def clinical(bundle_: dict[str, Any]) -> list[Any]:
        return clinical_content(entry["resource"] for entry in bundle_["entry"])

    assert len(again["entry"]) == len(exported["entry"])
    assert clinical(again) == clinical(exported)
    source_events = (await client.get(f"/patient-events/{patient}", headers=writer)).json()
    target_events = (await client.get(f"/patient-events/{patient}", headers=importer)).json()

    # The events too (their payloads as the export says them back: 72 as 72.0, a blood
    # pressure's default unit written out), with their times and labels.
    def facts(events: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
        return sorted((e["event_type"], e["occurred_at"], e["labels"]) for e in events)

    assert facts(target_events) == facts(source_events)
    assert len(target_events) == 4
    # Imported again: unchanged, nothing written.
    before = await count_events(pool, target)
    assert summary(await post(client, importer, exported)).startswith("0 created")
    assert await count_events(pool, target) == before


async def test_a_resource_now_entered_in_error_retracts_its_event(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    assert statuses(await post(client, writer, bundle("batch", lab("r1", of(patient), 1)))) == [
        "201 Created"
    ]
    # Corrected meanwhile through the REST API: the import corrects the newest version.
    [event] = (await client.get(f"/patient-events/{patient}", headers=writer)).json()
    corrected = await client.post(
        f"/events/{event['id']}/corrections",
        json={"payload": {**event["payload"], "value": 2}, "reason": "synthetic"},
        headers=writer,
    )
    assert corrected.status_code == 200, corrected.text
    changed = bundle("batch", lab("r1", of(patient), 3, version="2"))
    response = await post(client, writer, changed)
    assert statuses(response) == ["200 OK"]
    assert response.json()["entry"][0]["response"]["location"] == "Observation/r1/_history/2"
    [current] = (await client.get(f"/patient-events/{patient}", headers=writer)).json()
    assert (current["payload"]["value"], current["supersedes"]) == (3, corrected.json()["id"])

    retracted = lab("r1", of(patient), 3, version="3")
    retracted["status"] = "entered-in-error"
    assert statuses(await post(client, writer, bundle("batch", retracted))) == ["200 OK"]
    # Nothing current left: the patient's list is not found, as for any patient without one.
    assert (await client.get(f"/patient-events/{patient}", headers=writer)).status_code == 404
    history = await events_of(client, writer, patient)
    assert [e["status"] for e in sorted(history, key=lambda e: e["id"])] == [
        "final",
        "amended",
        "amended",
        "entered-in-error",
    ]
    # Never imported: nothing to retract, the entry fails.
    unknown = lab("r2", of(patient), 4)
    unknown["status"] = "entered-in-error"
    response = await post(client, writer, bundle("batch", unknown))
    assert statuses(response) == ["400 Bad Request"]
    assert response.json()["entry"][0]["response"]["outcome"]["issue"][0]["code"] == "not-supported"
