"""Tenants register their own event types with a JSON Schema and may refuse the rest."""

from __future__ import annotations

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import bearer, count_events, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

PRIOR_AUTH = {
    "type": "object",
    "properties": {
        "payer": {"type": "string"},
        "cpt": {"type": "string", "pattern": "^[0-9]{5}$"},
        "status": {"enum": ["submitted", "approved", "denied"]},
    },
    "required": ["payer", "status"],
}


async def test_registered_types_validate_and_others_can_be_refused(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    admin = bearer(await make_token(pool, tenant, "admin"))
    writer = bearer(await make_token(pool, tenant))
    registered = await client.put(
        "/event-types/prior_auth",
        json={"schema": PRIOR_AUTH, "description": "PA case"},
        headers=admin,
    )
    assert registered.status_code == 200, registered.text
    patient = new_patient()
    good = {
        "patient_id": patient,
        "event_type": "prior_auth",
        "payload": {"payer": "Acme Health", "cpt": "99213", "status": "submitted"},
    }
    assert (await client.post("/patient-events", json=good, headers=writer)).status_code == 200
    bad = {**good, "payload": {"payer": "Acme Health", "cpt": "SECRET-VALUE", "status": "maybe"}}
    refused = await client.post("/patient-events", json=bad, headers=writer)
    assert refused.status_code == 422
    fields = {e["field"] for e in refused.json()["errors"]}
    assert fields == {"payload.cpt", "payload.status"}
    assert "SECRET-VALUE" not in refused.text  # values are never echoed

    free = {**good, "event_type": "claim_action", "payload": {"anything": 1}}
    assert (await client.post("/patient-events", json=free, headers=writer)).status_code == 200
    policy = await client.put(
        "/event-type-policy", json={"reject_unregistered": True}, headers=admin
    )
    assert policy.json() == {"reject_unregistered": True}
    now_refused = await client.post("/patient-events", json=free, headers=writer)
    assert now_refused.status_code == 422
    assert now_refused.json()["errors"][0]["field"] == "event_type"
    # Built-in types stay accepted under the policy.
    lab = {**good, "event_type": "lab_result", "payload": {"test": "HbA1c", "value": 8.4}}
    assert (await client.post("/patient-events", json=lab, headers=writer)).status_code == 200
    assert await count_events(pool, tenant) == 3

    catalogue = (await client.get("/event-types", headers=writer)).json()
    assert [t["event_type"] for t in catalogue["tenant_types"]] == ["prior_auth"]
    assert catalogue["other_types"] == "refused"
    # Another tenant neither sees nor is bound by them.
    other = bearer(await make_token(pool, new_tenant()))
    theirs = (await client.get("/event-types", headers=other)).json()
    assert theirs["tenant_types"] == []
    assert (await client.post("/patient-events", json=bad, headers=other)).status_code == 200


async def test_registration_rules(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    admin = bearer(await make_token(pool, tenant, "admin"))
    writer = bearer(await make_token(pool, tenant))
    cases = [
        ("lab_result", {"schema": {"type": "object"}}, 409),
        ("x", {"schema": {"type": "nonsense"}}, 422),
        ("x", {"schema": {"type": "object"}, "colour": "blue"}, 422),
        ("bad type", {"schema": {"type": "object"}}, 422),
    ]
    for name, body, status in cases:
        response = await client.put(f"/event-types/{name}", json=body, headers=admin)
        assert response.status_code == status, (name, body, response.text)
    denied = await client.put("/event-types/x", json={"schema": {}}, headers=writer)
    assert denied.status_code == 403
    wrong_type = await client.put(
        "/event-types/x", content=b"schema", headers={**admin, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415


async def test_corrections_of_registered_types_are_checked_too(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    admin = bearer(await make_token(pool, tenant, "admin"))
    writer = bearer(await make_token(pool, tenant))
    await client.put("/event-types/prior_auth", json={"schema": PRIOR_AUTH}, headers=admin)
    body = {
        "patient_id": new_patient(),
        "event_type": "prior_auth",
        "payload": {"payer": "Acme Health", "status": "submitted"},
    }
    created = (await client.post("/patient-events", json=body, headers=writer)).json()
    bad = await client.post(
        f"/events/{created['id']}/corrections",
        json={"payload": {"payer": "Acme Health", "status": "lost"}, "reason": "update"},
        headers=writer,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "payload.status"
    good = await client.post(
        f"/events/{created['id']}/corrections",
        json={"payload": {"payer": "Acme Health", "status": "approved"}, "reason": "update"},
        headers=writer,
    )
    assert good.status_code == 200
