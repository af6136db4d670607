"""GET /patients/{patient_id}/fhir: a patient's record as a FHIR R4 Bundle that validates,
of what the key may see, as recorded by a time (issue 13, FHIR export)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle

from carelog.storage.db import Pool
from carelog.synthetic.load import load
from carelog.synthetic.population import DEFAULT_END, Patient
from tests.factories import audit_rows, bearer, make_token, new_tenant

pytestmark = pytest.mark.e2e


def _patient() -> Patient:
    """A synthetic patient with a corrected lab, a retraction and a BH condition."""
    for number in range(1, 2000):
        patient = Patient(31, number, end=DEFAULT_END, years=2)
        records = patient.records()
        if (
            "depression" in patient.problems
            and any("corrects" in r for r in records)
            and any("retracts" in r for r in records)
        ):
            return patient
    raise AssertionError("no such patient")


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle["entry"]]


@pytest.fixture(scope="module")
async def loaded(app: object, pool: Pool) -> tuple[str, Patient, dict[str, int]]:
    tenant, patient = new_tenant(), _patient()
    writer = bearer(await make_token(pool, tenant, "events:read", "events:write"))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=writer
    ) as client:
        report = await load(client, patient.records())
    return tenant, patient, dict(report.counts)


async def test_the_record_is_a_valid_bundle_without_what_the_key_may_not_see(
    client: httpx.AsyncClient, pool: Pool, loaded: tuple[str, Patient, dict[str, int]]
) -> None:
    tenant, patient, counts = loaded
    reader = bearer(await make_token(pool, tenant, "events:read"))
    response = await client.get(
        f"/patients/{patient.id}/fhir", headers={**reader, "X-Request-ID": "fhir-read-1"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    body = response.json()
    Bundle.model_validate(body)  # R4 content, validated by fhir.resources
    assert body["type"] == "searchset"
    resources = _resources(body)
    assert resources[0]["resourceType"] == "Patient"
    assert body["total"] == len(resources) - 1 > 10
    assert int(response.headers["carelog-withheld-count"]) > 0
    assert "BH" not in response.text  # no label of what it may not see
    assert "Major depressive disorder" not in response.text
    kinds = {r["resourceType"] for r in resources}
    assert {"Observation", "Condition", "MedicationStatement", "Encounter"} <= kinds
    # Corrections are the latest version; retracted events are left out.
    corrected = [r for r in resources[1:] if r["meta"]["versionId"] != "1"]
    assert corrected
    assert all(r.get("status") != "entered-in-error" for r in resources)
    assert counts["correction"] >= 1
    assert counts["retraction"] >= 1
    [row] = [r for r in await audit_rows(pool, tenant) if r["request_id"] == "fhir-read-1"]
    assert (row["action"], row["outcome"], row["patient_id"]) == ("read", "success", patient.id)
    cited = {
        int(identifier["value"])
        for r in resources[1:]
        for identifier in r.get("identifier", [])
        if identifier["system"] == "urn:carelog:event"
    }
    assert cited
    assert cited <= set(row["event_ids"])  # the audit row names every event the Bundle shows


async def test_a_key_that_may_see_bh_gets_it_labelled(
    client: httpx.AsyncClient, pool: Pool, loaded: tuple[str, Patient, dict[str, int]]
) -> None:
    tenant, patient, _ = loaded
    full = bearer(await make_token(pool, tenant, "events:read", "sensitive:BH"))
    response = await client.get(f"/patients/{patient.id}/fhir?type=collection", headers=full)
    assert response.status_code == 200, response.text
    body = response.json()
    Bundle.model_validate(body)
    assert body["type"] == "collection"
    assert "carelog-withheld-count" not in response.headers
    labelled = [
        r
        for r in _resources(body)
        if any(tag["code"] == "BH" for tag in r.get("meta", {}).get("security", []))
    ]
    assert any(r["resourceType"] == "Condition" for r in labelled)


async def test_as_of_gives_the_record_as_it_was_recorded(
    client: httpx.AsyncClient, pool: Pool, loaded: tuple[str, Patient, dict[str, int]]
) -> None:
    tenant, patient, _ = loaded
    reader = bearer(await make_token(pool, tenant, "events:read"))
    now = (await client.get(f"/patients/{patient.id}/fhir", headers=reader)).json()
    # Everything was recorded in the last minutes: as of the first record the patient had
    # one event, a minute before it none.
    events = (
        await client.get(
            f"/patient-events/{patient.id}", params={"include": "history"}, headers=reader
        )
    ).json()
    first = min(e["created_at"] for e in events)  # (created_at: the recorded time)
    before = await client.get(
        f"/patients/{patient.id}/fhir", params={"as_of": first}, headers=reader
    )
    assert before.status_code == 200, before.text
    assert len(_resources(before.json())) < len(_resources(now))
    earlier = (datetime.fromisoformat(first) - timedelta(minutes=1)).isoformat()
    nothing = await client.get(
        f"/patients/{patient.id}/fhir", params={"as_of": earlier}, headers=reader
    )
    assert nothing.status_code == 404


async def test_an_unknown_patient_is_not_found(client: httpx.AsyncClient, pool: Pool) -> None:
    reader = bearer(await make_token(pool, new_tenant(), "events:read"))
    response = await client.get("/patients/P-nobody/fhir", headers=reader)
    assert response.status_code == 404
    assert response.json()["code"] == "not-found"
