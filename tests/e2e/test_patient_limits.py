"""Scopes on real requests, and keys limited to a list of patients."""

from __future__ import annotations

import httpx
import pytest

from carelog.domain.principals import ApiKeyCreate
from carelog.services.auth.keys import issue_key
from carelog.storage.db import Pool
from tests.factories import bearer, count_events, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e


def _event(patient: str) -> dict[str, object]:
    return {"patient_id": patient, "event_type": "lab_result", "payload": {"value": 1}}


async def test_a_patient_limited_key_reaches_only_its_patients(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    mine, other = new_patient(), new_patient()
    full = bearer(await make_token(pool, tenant))
    other_event = (await client.post("/patient-events", json=_event(other), headers=full)).json()
    limited = await issue_key(
        pool,
        ApiKeyCreate(
            tenant_id=tenant,
            scopes=frozenset({"patient/*.cruds"}),
            patients=frozenset({mine}),
        ),
    )
    headers = bearer(limited.token)

    written = await client.post("/patient-events", json=_event(mine), headers=headers)
    assert written.status_code == 200
    assert (await client.get(f"/patient-events/{mine}", headers=headers)).status_code == 200
    assert (await client.get(f"/events/{written.json()['id']}", headers=headers)).is_success

    denied = await client.post("/patient-events", json=_event(other), headers=headers)
    assert denied.status_code == 403
    hidden = await client.get(f"/patient-events/{other}", headers=headers)
    assert hidden.status_code == 404
    assert (await client.get(f"/events/{other_event['id']}", headers=headers)).status_code == 404
    # The unlimited key of the same tenant still sees both patients' events.
    assert await count_events(pool, tenant) == 2


@pytest.mark.parametrize(
    ("scopes", "can_read", "can_write"),
    [
        (("user/*.cruds",), True, True),
        (("system/*.rs",), True, False),
        (("user/*.c",), False, True),
        (("audit:read",), False, False),
        (("events:read", "events:write"), True, True),
    ],
)
async def test_smart_scopes_on_the_event_routes(
    client: httpx.AsyncClient,
    pool: Pool,
    scopes: tuple[str, ...],
    can_read: bool,
    can_write: bool,
) -> None:
    tenant = new_tenant()
    patient = new_patient()
    seeded = await client.post(
        "/patient-events", json=_event(patient), headers=bearer(await make_token(pool, tenant))
    )
    headers = bearer(await make_token(pool, tenant, *scopes))
    write = await client.post("/patient-events", json=_event(patient), headers=headers)
    read = await client.get(f"/patient-events/{patient}", headers=headers)
    single = await client.get(f"/events/{seeded.json()['id']}", headers=headers)
    assert write.status_code == (200 if can_write else 403)
    assert read.status_code == (200 if can_read else 403)
    assert single.status_code == (200 if can_read else 403)


async def test_a_patient_limited_audit_reader_sees_only_its_patients_rows(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    mine, other = new_patient(), new_patient()
    full = bearer(await make_token(pool, tenant))
    for patient in (mine, other):
        assert (await client.post("/patient-events", json=_event(patient), headers=full)).is_success
    assert (await client.get("/event-types", headers=full)).is_success  # a row naming no patient
    limited = await issue_key(
        pool,
        ApiKeyCreate(
            tenant_id=tenant, scopes=frozenset({"audit:read"}), patients=frozenset({mine})
        ),
    )
    headers = bearer(limited.token)

    asked = await client.get(f"/audit-events?patient_id={other}", headers=headers)
    assert asked.status_code == 200
    assert asked.json() == []
    assert (await client.get("/audit-events?limit=1", headers=headers)).is_success
    everything = await client.get("/audit-events?limit=500", headers=headers)
    rows = everything.json()
    assert rows
    assert {row["patient_id"] for row in rows} <= {mine, None}
    # Rows naming no patient: only the reader's own (here, its earlier searches naming none).
    assert {row["principal_id"] for row in rows if row["patient_id"] is None} == {
        f"key:{limited.key.key_id}"
    }
    for form in ("fhir", "ndjson"):
        exported = await client.get(f"/audit-events?format={form}&limit=500", headers=headers)
        assert exported.status_code == 200
        assert other not in exported.text
        assert mine in exported.text
    verified = await client.get("/audit-events/verify", headers=headers)
    assert verified.status_code == 200
    assert set(verified.json()) == {"tenant_id", "ok", "rows", "lanes", "first_break"}
    # The unlimited reader of the same tenant still sees the other patient's rows.
    auditor = bearer(await make_token(pool, tenant, "audit:read"))
    assert (await client.get(f"/audit-events?patient_id={other}", headers=auditor)).json()
