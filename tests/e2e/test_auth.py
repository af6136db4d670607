"""Authentication and scopes: anonymous 401, missing scope 403, revoked keys fail at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from carelog.api.app import PROTECTED_ROUTERS
from carelog.api.deps import EventsWrite, required_permissions
from carelog.api.routing import assert_protected
from carelog.domain.scopes import Permission
from carelog.services.auth.keys import hash_token, list_keys, revoke_key
from carelog.storage.db import Pool, connection
from tests.factories import bearer, count_events, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

EVENT = {"patient_id": "P-77", "event_type": "triage_note", "payload": {"severity": "low"}}

ROUTES = [
    ("POST", "/patient-events"),
    ("GET", "/patient-events/P-77"),
    ("GET", "/events/1"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer clk_nope_nope", "Bearer xyz"],
)
async def test_anonymous_and_bad_credentials_get_401(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.request(
        method, path, json=EVENT if method == "POST" else None, headers=headers
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == "unauthenticated"


async def test_missing_scope_is_403_and_writes_nothing(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    reader = bearer(await make_token(pool, tenant, "events:read"))
    writer = bearer(await make_token(pool, tenant, "events:write"))

    denied = await client.post("/patient-events", json=EVENT, headers=reader)
    assert denied.status_code == 403
    assert denied.json()["code"] == "forbidden"
    assert await count_events(pool, tenant) == 0

    assert (await client.post("/patient-events", json=EVENT, headers=writer)).status_code == 200
    for path in ["/patient-events/P-77", "/events/1"]:
        response = await client.get(path, headers=writer)
        assert response.status_code == 403, path
    assert (await client.get("/patient-events/P-77", headers=reader)).status_code == 200


async def test_admin_scope_implies_the_others(client: httpx.AsyncClient, pool: Pool) -> None:
    admin = bearer(await make_token(pool, new_tenant(), "admin"))
    patient = new_patient()
    body = {**EVENT, "patient_id": patient}
    assert (await client.post("/patient-events", json=body, headers=admin)).status_code == 200
    assert (await client.get(f"/patient-events/{patient}", headers=admin)).status_code == 200


async def test_revoked_key_fails_on_the_next_request(
    client: httpx.AsyncClient, pool: Pool, app: FastAPI
) -> None:
    tenant = new_tenant()
    token = await make_token(pool, tenant)
    assert (await client.post("/patient-events", json=EVENT, headers=bearer(token))).is_success
    assert (await client.get("/patient-events/P-77", headers=bearer(token))).is_success
    [key] = await list_keys(pool, tenant_id=tenant)
    await revoke_key(pool, key.key_id, app.state.runtime.principal_cache, tenant_id=tenant)
    response = await client.get("/patient-events/P-77", headers=bearer(token))
    assert response.status_code == 401
    [listed] = await list_keys(pool, tenant_id=tenant)
    assert listed.revoked_at is not None


async def test_tokens_are_stored_only_as_hashes(pool: Pool) -> None:
    tenant = new_tenant()
    token = await make_token(pool, tenant)
    # As the tenant (under row-level security a bare pooled connection speaks for none).
    async with connection(pool, tenant) as conn:
        cur = await conn.execute("SELECT * FROM api_keys")
        rows = await cur.fetchall()
    assert rows
    assert not any(token in str(value) for row in rows for value in row)


async def test_health_is_public(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 200


def test_every_protected_route_demands_its_scope() -> None:
    protected = {
        f"{method} {route.path}": required_permissions(route)
        for router in PROTECTED_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    assert protected == {
        "POST /patient-events": {Permission.EVENTS_WRITE},
        "POST /patient-events/batch": {Permission.EVENTS_WRITE},
        "GET /patient-events/{patient_id}": {Permission.EVENTS_READ},
        "GET /patient-events/stream": {Permission.EVENTS_READ},
        "GET /events/{event_id}": {Permission.EVENTS_READ},
        "GET /audit-events": {Permission.AUDIT_READ},
        "GET /audit-events/verify": {Permission.AUDIT_READ},
        "GET /event-types": {Permission.EVENTS_READ},
        "POST /events/{event_id}/corrections": {Permission.EVENTS_WRITE},
        "POST /events/{event_id}/retractions": {Permission.EVENTS_WRITE},
        "GET /patients/{patient_id}/context": {Permission.EVENTS_READ},
        "GET /patients/{patient_id}/fhir": {Permission.EVENTS_READ},
        "POST /fhir": {Permission.EVENTS_WRITE},
        "POST /fhir/$import": {Permission.EVENTS_WRITE},
        "GET /fhir/$export": {Permission.EVENTS_READ},
        "GET /fhir/Patient/$export": {Permission.EVENTS_READ},
        "GET /fhir/$export-status/{job_id}": {Permission.EVENTS_READ},
        "DELETE /fhir/$export-status/{job_id}": {Permission.EVENTS_READ},
        "GET /fhir/$export-files/{job_id}/{resource_type}/{part}": {Permission.EVENTS_READ},
        "GET /search": {Permission.EVENTS_READ},
        "PUT /event-types/{event_type}": {Permission.ADMIN},
        "PUT /event-type-policy": {Permission.ADMIN},
        "GET /escalations/targets": {Permission.WORKFLOWS_READ},
        "PUT /escalations/targets": {Permission.ADMIN},
        "POST /escalations": {Permission.WORKFLOWS_WRITE},
        "GET /escalations": {Permission.WORKFLOWS_READ},
        "GET /escalations/{case_id}": {Permission.WORKFLOWS_READ},
        "POST /escalations/{case_id}/actions": {Permission.WORKFLOWS_WRITE},
        "POST /care-tasks": {Permission.WORKFLOWS_WRITE},
        "GET /care-tasks": {Permission.WORKFLOWS_READ},
        "GET /care-tasks/{case_id}": {Permission.WORKFLOWS_READ},
        "POST /care-tasks/{case_id}/actions": {Permission.WORKFLOWS_WRITE},
        "GET /prior-auth-cases/metrics": {Permission.WORKFLOWS_READ},
        "POST /prior-auth-cases": {Permission.WORKFLOWS_WRITE},
        "GET /prior-auth-cases": {Permission.WORKFLOWS_READ},
        "GET /prior-auth-cases/{case_id}": {Permission.WORKFLOWS_READ},
        "POST /prior-auth-cases/{case_id}/actions": {Permission.WORKFLOWS_WRITE},
        "PUT /payers/{payer_id}": {Permission.ADMIN},
        "GET /payers/{payer_id}": {Permission.WORKFLOWS_READ},
        "GET /payers": {Permission.WORKFLOWS_READ},
        "POST /subscriptions": {Permission.ADMIN},
        "GET /subscriptions": {Permission.ADMIN},
        "GET /subscriptions/{subscription_id}": {Permission.ADMIN},
        "DELETE /subscriptions/{subscription_id}": {Permission.ADMIN},
        "GET /subscriptions/{subscription_id}/deliveries": {Permission.ADMIN},
        "POST /subscriptions/{subscription_id}/deliveries/{delivery_id}/replay": {Permission.ADMIN},
    }


def test_a_route_without_a_scope_fails_start_up() -> None:
    leaky = APIRouter()

    @leaky.get("/patients/{patient_id}")
    async def leak(patient_id: str) -> str:
        return patient_id

    with pytest.raises(RuntimeError, match="no scope dependency"):
        assert_protected(leaky)


def test_a_route_that_would_read_before_it_authenticates_fails_start_up() -> None:
    """A plain APIRoute parses its body before its scope dependency runs (issue 9, item 9)."""
    plain = APIRouter()

    @plain.post("/notes")
    async def note(body: dict[str, str], caller: EventsWrite) -> str:
        return caller.access.principal.name

    with pytest.raises(RuntimeError, match="not a JsonRoute"):
        assert_protected(plain)


async def test_a_revocation_elsewhere_empties_the_cache(
    client: httpx.AsyncClient, pool: Pool, app: FastAPI
) -> None:
    """Another process revokes (here: another connection, no cache): NOTIFY reaches us."""
    cache = app.state.runtime.principal_cache
    tenant = new_tenant()
    token = await make_token(pool, tenant)
    assert (await client.get("/patient-events/P-77", headers=bearer(token))).status_code == 404
    assert cache.live
    assert cache.get(hash_token(token)) is not None
    [key] = await list_keys(pool, tenant_id=tenant)
    generation = cache.generation
    await revoke_key(pool, key.key_id, tenant_id=tenant)
    for _ in range(100):
        if cache.generation != generation:
            break
        await asyncio.sleep(0.01)
    assert cache.generation != generation
    assert cache.get(hash_token(token)) is None
    assert (await client.get("/patient-events/P-77", headers=bearer(token))).status_code == 401


async def test_openapi_documents_problem_responses(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert {"Problem", "FieldError"} <= schema["components"]["schemas"].keys()
    post = schema["paths"]["/patient-events"]["post"]["responses"]
    for status in ["400", "401", "403", "409", "413", "415", "422", "503"]:
        assert "application/problem+json" in post[status]["content"], status
    assert "404" in schema["paths"]["/events/{event_id}"]["get"]["responses"]
