"""POST /fhir: a FHIR R4 Bundle imported as events (issue 13, FHIR import, the Bundle half):
created, unchanged and corrected entries, transactions all or nothing, batches entry by
entry, patients by identifier, tenants and patient limits kept, the audit trail, bad input
refused with codes, and a record exported, imported elsewhere and exported again."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from carelog.domain.principals import ApiKeyCreate
from carelog.services.auth.keys import issue_key
from carelog.storage.db import Pool
from tests.e2e.fhir_import_kit import (
    MRN,
    bundle,
    events_of,
    lab,
    of,
    post,
    statuses,
    summary,
)
from tests.factories import (
    audit_rows,
    bearer,
    count_events,
    make_token,
    new_patient,
    new_tenant,
)

pytestmark = pytest.mark.e2e


async def test_created_then_unchanged_then_corrected(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    first = bundle("batch", lab("g1", of(patient), 100, version="1"), lab("g2", of(patient), 90))
    created = await post(client, writer, first)
    assert created.status_code == 200, created.text
    assert created.headers["content-type"] == "application/fhir+json"
    assert statuses(created) == ["201 Created", "201 Created"]
    assert created.json()["entry"][0]["response"]["location"] == "Observation/g1/_history/1"
    assert await count_events(pool, tenant) == 2

    again = await post(client, writer, first)  # the same Bundle twice: nothing new
    assert statuses(again) == ["200 OK", "200 OK"]
    assert await count_events(pool, tenant) == 2
    # Same versionId, or same content under another versionId: unchanged too.
    same = bundle(
        "collection",
        lab("g1", of(patient), 999, version="1"),
        lab("g2", of(patient), 90, version="7"),
    )
    assert summary(await post(client, writer, same)) == "0 created, 2 unchanged, 0 failed"
    assert await count_events(pool, tenant) == 2

    changed = bundle(
        "collection", lab("g1", of(patient), 120, version="2"), lab("g3", of(patient), 80)
    )
    answer = await post(client, writer, changed)
    assert answer.status_code == 200, answer.text
    assert summary(answer) == "1 created, 1 corrected, 0 unchanged, 0 failed"
    history = await events_of(client, writer, patient)
    assert len(history) == 4
    [correction] = [e for e in history if e["supersedes"] is not None]
    assert (correction["status"], correction["payload"]["value"]) == ("amended", 120)
    assert {e["source"] for e in history if e["supersedes"] is None} == {"fhir-import"}
    current = (await client.get(f"/patient-events/{patient}", headers=writer)).json()
    assert sorted(e["payload"]["value"] for e in current) == [80, 90, 120]


async def test_a_transaction_with_one_bad_entry_stores_nothing(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    bad = lab("t2", of(patient), 5)
    del bad["status"]  # required in R4
    body = bundle("transaction", lab("t1", of(patient), 1), bad, lab("t3", of(patient), 3))
    response = await post(client, writer, body, **{"X-Request-ID": "fhir-tx-bad"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    outcome = response.json()
    OperationOutcome.model_validate(outcome)
    errors = [i for i in outcome["issue"] if i["severity"] == "error"]
    assert errors
    assert all(i["expression"][0].startswith("Bundle.entry[1]") for i in errors)
    assert errors[0]["code"] == "required"
    assert await count_events(pool, tenant) == 0
    [row] = [r for r in await audit_rows(pool, tenant) if r["request_id"] == "fhir-tx-bad"]
    assert (row["action"], row["outcome"], row["status"]) == ("create", "failed", 400)

    # An entry that reads well but cannot be stored (an unknown identifier) rolls back too,
    # the entries before it included.
    unknown = lab("t4", {"identifier": {"system": MRN, "value": "nobody"}}, 4)
    body = bundle("transaction", lab("t1", of(patient), 1), unknown)
    response = await post(client, writer, body)
    assert response.status_code == 400, response.text
    [error] = [i for i in response.json()["issue"] if i["severity"] == "error"]
    assert error["code"] == "not-found"
    assert error["expression"] == ["Bundle.entry[1].resource.subject"]
    assert await count_events(pool, tenant) == 0

    good = bundle("transaction", lab("t1", of(patient), 1), lab("t3", of(patient), 3))
    response = await post(client, writer, good)
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "transaction-response"
    assert statuses(response) == ["201 Created", "201 Created"]
    assert await count_events(pool, tenant) == 2


async def test_a_batch_with_one_bad_entry_stores_the_rest(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    bad = lab("b2", of(patient), 5, when="2026-01-05")  # a day is fine...
    bad["effectiveDateTime"] = "2026-13-45T08:00:00Z"  # ...an impossible date is not
    body = bundle("batch", lab("b1", of(patient), 1), bad, lab("b3", of(patient), 3))
    response = await post(client, writer, body)
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "batch-response"
    assert statuses(response) == ["201 Created", "400 Bad Request", "201 Created"]
    failed = response.json()["entry"][1]["response"]["outcome"]["issue"][0]
    assert failed["expression"][0].startswith("Bundle.entry[1].resource")
    assert await count_events(pool, tenant) == 2


async def test_patients_by_identifier_and_bundle_references(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    mrn = f"MRN-{uuid.uuid4().hex[:8]}"
    person = {
        "resourceType": "Patient",
        "id": patient,
        "identifier": [{"system": MRN, "value": mrn}],
    }
    by_url = lab("p2", {"reference": "urn:uuid:5a4b0c7e-0000-4000-8000-000000000001"}, 2)
    body = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": lab("p1", {"identifier": {"system": MRN, "value": mrn}}, 1)},
            {"fullUrl": "urn:uuid:5a4b0c7e-0000-4000-8000-000000000001", "resource": person},
            {"resource": by_url},
        ],
    }
    response = await post(client, writer, body)
    assert response.status_code == 200, response.text
    assert summary(response) == "3 created, 0 unchanged, 0 failed", response.text
    later = bundle("batch", lab("p3", {"identifier": {"system": MRN, "value": mrn}}, 3))
    assert statuses(await post(client, writer, later)) == ["201 Created"]
    values = sorted(e["payload"]["value"] for e in await events_of(client, writer, patient))
    assert values == [1, 2, 3]
    unknown = bundle("batch", lab("p4", {"identifier": {"system": MRN, "value": "other"}}, 4))
    response = await post(client, writer, unknown)
    assert statuses(response) == ["400 Bad Request"]
    assert response.json()["entry"][0]["response"]["outcome"]["issue"][0]["code"] == "not-found"
    # An identifier names one patient: another Patient claiming it fails, and registers
    # none of its identifiers.
    thief = {
        "resourceType": "Patient",
        "id": new_patient(),
        "identifier": [{"system": MRN, "value": "fresh"}, {"system": MRN, "value": mrn}],
    }
    response = await post(client, writer, bundle("batch", thief))
    assert statuses(response) == ["409 Conflict"]
    assert response.json()["entry"][0]["response"]["outcome"]["issue"][0]["code"] == "conflict"
    fresh = bundle("batch", lab("p5", {"identifier": {"system": MRN, "value": "fresh"}}, 5))
    assert statuses(await post(client, writer, fresh)) == ["400 Bad Request"]


async def test_another_tenant_sees_nothing_and_a_limited_key_writes_only_its_patients(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient, other_patient = new_tenant(), new_patient(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    body = bundle("batch", lab("x1", of(patient), 1, labels=("BH",)))
    assert statuses(await post(client, writer, body)) == ["201 Created"]
    stranger = bearer(await make_token(pool, new_tenant(), "events:read", "sensitive:BH"))
    response = await client.get(f"/patient-events/{patient}", headers=stranger)
    assert response.status_code == 404
    # The same resource id in another tenant is a resource of its own.
    other_writer = bearer(await make_token(pool, new_tenant()))
    assert statuses(await post(client, other_writer, body)) == ["201 Created"]
    # Labels from meta.security: a key without BH does not see it.
    plain = bearer(await make_token(pool, tenant, "events:read"))
    assert (await client.get(f"/patient-events/{patient}", headers=plain)).json() == []
    full = bearer(await make_token(pool, tenant, "events:read", "sensitive:BH"))
    [event] = (await client.get(f"/patient-events/{patient}", headers=full)).json()
    assert event["labels"] == ["BH"]

    limited = await issue_key(
        pool,
        ApiKeyCreate(
            tenant_id=tenant, scopes=frozenset({"patient/*.cruds"}), patients=frozenset({patient})
        ),
    )
    mixed = bundle("batch", lab("x2", of(patient), 2), lab("x3", of(other_patient), 3))
    response = await post(client, bearer(limited.token), mixed)
    assert statuses(response) == ["201 Created", "403 Forbidden"]
    assert response.json()["entry"][1]["response"]["outcome"]["issue"][0]["code"] == "forbidden"
    assert await events_of(client, writer, other_patient) == []
    tx = bundle("transaction", lab("x4", of(patient), 4), lab("x5", of(other_patient), 5))
    before = await count_events(pool, tenant)
    assert (await post(client, bearer(limited.token), tx)).status_code == 400
    assert await count_events(pool, tenant) == before


async def test_each_stored_event_is_audited(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    body = bundle("batch", lab("a1", of(patient), 1), lab("a2", of(patient), 2))
    response = await post(client, writer, body, **{"X-Request-ID": "fhir-import-audit"})
    assert response.status_code == 200
    rows = [r for r in await audit_rows(pool, tenant) if r["request_id"] == "fhir-import-audit"]
    assert [(r["action"], r["outcome"], r["route"], r["patient_id"]) for r in rows] == [
        ("create", "success", "/fhir", patient)
    ] * 2
    stored = {e["id"] for e in await events_of(client, writer, patient)}
    assert {i for r in rows for i in r["event_ids"]} == stored
    # Nothing new to store: one row for the request, naming no event.
    await post(client, writer, body, **{"X-Request-ID": "fhir-import-audit-2"})
    rows = [r for r in await audit_rows(pool, tenant) if r["request_id"] == "fhir-import-audit-2"]
    assert [(r["action"], r["outcome"], r["event_ids"]) for r in rows] == [
        ("create", "success", [])
    ]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(
            {"resourceType": "Patient", "id": "x"}, 422, "validation-failed", id="not-a-bundle"
        ),
        pytest.param(
            {"resourceType": "Bundle", "type": "searchset"},
            422,
            "validation-failed",
            id="bundle-type",
        ),
        pytest.param({"resourceType": "Bundle"}, 422, "validation-failed", id="no-type"),
        pytest.param([], 422, "validation-failed", id="array"),
        pytest.param(
            {"resourceType": "Bundle", "type": "batch", "entry": "x"},
            422,
            "validation-failed",
            id="entry",
        ),
    ],
)
async def test_a_body_that_is_not_a_bundle_is_refused(
    client: httpx.AsyncClient, pool: Pool, body: Any, status: int, code: str
) -> None:
    tenant = new_tenant()
    writer = bearer(await make_token(pool, tenant))
    response = await post(client, writer, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert await count_events(pool, tenant) == 0


async def test_malformed_json_and_too_many_entries(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    writer = bearer(await make_token(pool, tenant))
    response = await client.post(
        "/fhir",
        content=b'{"resourceType": "Bundle", "type":',
        headers={**writer, "Content-Type": "application/fhir+json"},
    )
    assert (response.status_code, response.json()["code"]) == (400, "bad-request")
    # 10,001 small entries: within the body limit, over the entry limit.
    many = {"resourceType": "Bundle", "type": "collection", "entry": [{}] * 10_001}
    response = await post(client, writer, many)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation-failed"
    assert problem["errors"][0]["type"] == "too_long"
    assert await count_events(pool, tenant) == 0


async def test_bad_resources_fail_their_entries_with_codes(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    no_status = lab("m2", of(patient), 2)
    del no_status["status"]
    bad_date = lab("m3", of(patient), 3)
    bad_date["effectiveDateTime"] = "yesterday"
    nul = lab("m6", of(patient), 6)
    nul["code"]["text"] = "bad\x00text"  # PostgreSQL cannot store a NUL
    body = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "NotAResource", "id": "m1"}},
            {"resource": no_status},
            {"resource": bad_date},
            {"resource": lab("m4", of(patient), 4, labels=("XYZ",))},
            {"resource": {"resourceType": "Organization", "id": "o1", "name": "Synthetic"}},
            {"resource": nul},
            {"resource": lab("m5", of(patient), 5)},
        ],
    }
    response = await post(client, writer, body)
    assert response.status_code == 200, response.text
    outcome = response.json()
    OperationOutcome.model_validate(outcome)
    errors = [i for i in outcome["issue"] if i["severity"] == "error"]
    where = {i["expression"][0].split(".resource")[0] for i in errors}
    assert where == {f"Bundle.entry[{n}]" for n in range(6)}
    assert all(i["code"] for i in errors)
    assert summary(response) == "1 created, 0 unchanged, 6 failed"
    assert await count_events(pool, tenant) == 1
