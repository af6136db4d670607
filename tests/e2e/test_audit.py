"""Every read, write and denied attempt leaves an audit row; the trail can be searched and
exported as FHIR AuditEvents by audit:read principals of the same tenant only."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from carelog.domain.audit import UNKNOWN_TENANT
from carelog.domain.principals import ApiKeyCreate
from carelog.services.auth.keys import issue_key
from carelog.storage.db import Pool
from tests.factories import audit_rows, bearer, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

SECRET = "synthetic-finding-qwerty"


def _event(patient: str, **extra: Any) -> dict[str, Any]:
    return {"patient_id": patient, "event_type": "condition", "payload": {"dx": SECRET}, **extra}


async def test_each_route_leaves_its_audit_row(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    token = await make_token(pool, tenant)
    headers = {**bearer(token), "X-Request-ID": "req-audit-1"}
    created = (await client.post("/patient-events", json=_event(patient), headers=headers)).json()
    await client.get(f"/patient-events/{patient}", headers=headers)
    await client.get(f"/events/{created['id']}", headers=headers)

    rows = await audit_rows(pool, tenant)
    assert [(r["action"], r["outcome"]) for r in rows] == [
        ("create", "success"),
        ("search", "success"),
        ("read", "success"),
    ]
    for row in rows:
        assert row["patient_id"] == patient
        assert row["event_ids"] == [created["id"]]
        assert row["principal_id"] == created["recorded_by"]
        assert row["principal_kind"] == "service"
        assert row["purpose_of_use"] == "TREAT"
        assert row["request_id"] == "req-audit-1"
        assert row["client_address"] is not None
    assert rows[0]["route"] == "/patient-events"
    assert rows[1]["route"] == "/patient-events/{patient_id}"
    assert rows[1]["result_count"] == 1
    # Ids and codes only: the clinical value is nowhere in the trail.
    assert SECRET not in json.dumps(rows, default=str)


async def test_denied_and_failed_attempts_are_audited(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    reader = await make_token(pool, tenant, "events:read")
    denied = await client.post("/patient-events", json=_event(patient), headers=bearer(reader))
    assert denied.status_code == 403
    invalid = await client.get(f"/patient-events/{patient}?limit=0", headers=bearer(reader))
    assert invalid.status_code == 422
    empty = await client.get(f"/patient-events/{patient}", headers=bearer(reader))
    assert empty.status_code == 404
    rows = await audit_rows(pool, tenant)
    assert [(r["action"], r["outcome"], r["status"]) for r in rows] == [
        ("create", "denied", 403),
        ("search", "failed", 422),
        ("search", "failed", 404),  # what the client was answered (issue 9, item 10)
    ]
    assert rows[0]["patient_id"] is None  # not read from an unparsed body
    assert rows[1]["patient_id"] == patient
    assert rows[2]["patient_id"] == patient


async def test_anonymous_attempts_are_audited_without_a_tenant(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    request_id = "anon-probe-7"
    response = await client.get(
        "/patient-events/P-0001",
        headers={"Authorization": "Bearer clk_x_y", "X-Request-ID": request_id},
    )
    assert response.status_code == 401
    rows = [r for r in await audit_rows(pool, UNKNOWN_TENANT) if r["request_id"] == request_id]
    assert len(rows) == 1
    assert rows[0]["outcome"] == "denied"
    assert rows[0]["principal_id"] is None
    assert rows[0]["patient_id"] == "P-0001"


async def test_idempotent_replays_and_conflicts_are_audited(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = {**bearer(await make_token(pool, tenant)), "Idempotency-Key": "audit-k"}
    first = await client.post("/patient-events", json=_event(patient), headers=headers)
    await client.post("/patient-events", json=_event(patient), headers=headers)
    conflict = await client.post(
        "/patient-events", json=_event(patient, source="other-bot"), headers=headers
    )
    assert conflict.status_code == 409
    rows = await audit_rows(pool, tenant)
    assert [(r["outcome"], r["event_ids"], r["status"]) for r in rows] == [
        ("success", [first.json()["id"]], None),
        ("success", [first.json()["id"]], None),
        ("failed", [], 409),
    ]


async def test_writes_and_their_audit_rows_commit_together(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = bearer(await make_token(pool, tenant))
    responses = await asyncio.gather(
        *(
            client.post("/patient-events", json=_event(new_patient()), headers=headers)
            for _ in range(30)
        )
    )
    ids = sorted(r.json()["id"] for r in responses)
    rows = await audit_rows(pool, tenant)
    assert sorted(r["event_ids"][0] for r in rows) == ids
    report = (
        await client.get(
            "/audit-events/verify", headers=bearer(await make_token(pool, tenant, "audit:read"))
        )
    ).json()
    assert report["ok"] is True
    assert report["rows"] >= 30


async def test_purpose_of_use(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    await client.post(
        "/patient-events", json=_event(patient), headers={**headers, "X-Purpose-Of-Use": "HPAYMT"}
    )
    bad = await client.get(
        f"/patient-events/{patient}", headers={**headers, "X-Purpose-Of-Use": "CURIOSITY"}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "X-Purpose-Of-Use"
    rows = await audit_rows(pool, tenant)
    assert [(r["purpose_of_use"], r["outcome"]) for r in rows] == [
        ("HPAYMT", "success"),
        (None, "failed"),  # the stated purpose was not valid: none is recorded
    ]


async def test_audit_search_filters_pages_and_scope(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, other_tenant = new_tenant(), new_tenant()
    writer = bearer(await make_token(pool, tenant))
    auditor = bearer(await make_token(pool, tenant, "audit:read"))
    patients = [new_patient() for _ in range(3)]
    for patient in patients:
        await client.post("/patient-events", json=_event(patient), headers=writer)
        await client.get(f"/patient-events/{patient}", headers=writer)
    await client.post(
        "/patient-events",
        json=_event(new_patient()),
        headers=bearer(await make_token(pool, other_tenant)),
    )

    assert (await client.get("/audit-events", headers=writer)).status_code == 403
    listed = await client.get(f"/audit-events?patient_id={patients[0]}", headers=auditor)
    assert listed.status_code == 200
    assert {(r["action"], r["patient_id"]) for r in listed.json()} == {
        ("create", patients[0]),
        ("search", patients[0]),
    }
    creates = (await client.get("/audit-events?action=create", headers=auditor)).json()
    assert len(creates) == 3
    assert all(r["tenant_id"] == tenant for r in creates)

    seen: list[str] = []
    url: str | None = "/audit-events?limit=2&outcome=success"
    while url:
        page = await client.get(url, headers=auditor)
        seen.extend(r["id"] for r in page.json())
        link = page.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    assert len(seen) == len(set(seen)) >= 6

    bad = await client.get("/audit-events?cursor=nope", headers=auditor)
    assert bad.status_code == 422


async def test_fhir_export(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    await client.post(
        "/patient-events", json=_event(patient), headers=bearer(await make_token(pool, tenant))
    )
    auditor = bearer(await make_token(pool, tenant, "audit:read"))
    bundle = await client.get(f"/audit-events?format=fhir&patient_id={patient}", headers=auditor)
    assert bundle.headers["content-type"] == "application/fhir+json"
    document = bundle.json()
    assert document["resourceType"] == "Bundle"
    [entry] = document["entry"]
    audit_event = entry["resource"]
    assert audit_event["resourceType"] == "AuditEvent"
    assert audit_event["action"] == "C"
    assert audit_event["outcome"] == "0"
    assert audit_event["agent"][0]["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"
    assert audit_event["entity"][0]["what"]["identifier"]["value"] == patient
    ndjson = await client.get("/audit-events?format=ndjson", headers=auditor)
    assert ndjson.headers["content-type"] == "application/fhir+ndjson"
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert {line["resourceType"] for line in lines} == {"AuditEvent"}
    assert SECRET not in ndjson.text


async def test_a_key_states_its_default_purpose(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    billing = await issue_key(
        pool,
        ApiKeyCreate(
            tenant_id=tenant, scopes=frozenset({"events:write"}), default_purpose="HPAYMT"
        ),
    )
    await client.post("/patient-events", json=_event(new_patient()), headers=bearer(billing.token))
    [row] = await audit_rows(pool, tenant)
    assert row["purpose_of_use"] == "HPAYMT"
    with pytest.raises(ValidationError, match="PurposeOfUse"):
        ApiKeyCreate(tenant_id=tenant, scopes=frozenset({"admin"}), default_purpose="FUN")
