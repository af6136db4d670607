"""Key kinds, expiry, rotation with a grace period, and last-use tracking."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from carelog.domain.principals import ApiKeyCreate, PrincipalKind
from carelog.errors import NotFound, ValidationFailed
from carelog.services.auth.keys import issue_key, list_keys, rotate_key
from carelog.storage.db import Pool
from tests.factories import bearer, new_patient, new_tenant

pytestmark = pytest.mark.e2e

SCOPES = frozenset({"events:read", "events:write"})


def _event(patient: str) -> dict[str, object]:
    return {"patient_id": patient, "event_type": "triage_note", "payload": {"severity": "low"}}


async def test_events_record_the_principal_kind_and_agent_name(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    agent = await issue_key(
        pool,
        ApiKeyCreate(
            tenant_id=tenant, scopes=SCOPES, kind=PrincipalKind.AGENT, agent_name="intake-bot"
        ),
    )
    service = await issue_key(pool, ApiKeyCreate(tenant_id=tenant, scopes=SCOPES))
    patient = new_patient()
    by_agent = await client.post(
        "/patient-events", json=_event(patient), headers=bearer(agent.token)
    )
    by_service = await client.post(
        "/patient-events", json=_event(patient), headers=bearer(service.token)
    )
    assert by_agent.json()["recorded_by"] == f"key:{agent.key.key_id}"
    assert by_agent.json()["recorded_by_kind"] == "agent"
    assert by_agent.json()["agent_name"] == "intake-bot"
    assert by_service.json()["recorded_by_kind"] == "service"
    assert by_service.json()["agent_name"] is None
    listed = await client.get(f"/patient-events/{patient}", headers=bearer(agent.token))
    assert [r["recorded_by_kind"] for r in listed.json()] == ["service", "agent"]


def test_agent_keys_need_a_name() -> None:
    with pytest.raises(ValidationError, match="agent name"):
        ApiKeyCreate(tenant_id="t", scopes=SCOPES, kind=PrincipalKind.AGENT)


async def test_an_expired_key_fails_on_the_next_request(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    issued = await issue_key(
        pool, ApiKeyCreate(tenant_id=new_tenant(), scopes=SCOPES, expires_at=soon)
    )
    patient = new_patient()
    ok = await client.post("/patient-events", json=_event(patient), headers=bearer(issued.token))
    assert ok.status_code == 200
    await asyncio.sleep((soon - datetime.now(UTC)).total_seconds() + 0.05)
    # The principal was cached by the first request: its expiry still applies at once.
    expired = await client.get(f"/patient-events/{patient}", headers=bearer(issued.token))
    assert expired.status_code == 401
    [key] = await list_keys(pool, tenant_id=issued.key.tenant_id)
    assert key.status(datetime.now(UTC)) == "expired"


async def test_rotation_keeps_both_keys_valid_for_the_grace_period(
    client: httpx.AsyncClient, pool: Pool, app: FastAPI
) -> None:
    tenant = new_tenant()
    old = await issue_key(
        pool,
        ApiKeyCreate(
            tenant_id=tenant, scopes=SCOPES, kind=PrincipalKind.AGENT, agent_name="pa-assistant"
        ),
    )
    patient = new_patient()
    assert (
        await client.post("/patient-events", json=_event(patient), headers=bearer(old.token))
    ).is_success
    new = await rotate_key(
        pool,
        old.key.key_id,
        grace=timedelta(seconds=1),
        cache=app.state.runtime.principal_cache,
        tenant_id=tenant,
    )
    assert new.token != old.token
    assert (new.key.tenant_id, new.key.kind, new.key.agent_name) == (
        tenant,
        PrincipalKind.AGENT,
        "pa-assistant",
    )
    assert set(new.key.scopes) == SCOPES
    for token in (old.token, new.token):
        response = await client.get(f"/patient-events/{patient}", headers=bearer(token))
        assert response.status_code == 200
    listed = {k.key_id: k for k in await list_keys(pool, tenant_id=tenant)}
    assert listed[old.key.key_id].replaced_by == new.key.key_id
    assert listed[old.key.key_id].status(datetime.now(UTC)) == "rotated"

    await asyncio.sleep(1.1)
    assert (
        await client.get(f"/patient-events/{patient}", headers=bearer(old.token))
    ).status_code == 401
    assert (
        await client.get(f"/patient-events/{patient}", headers=bearer(new.token))
    ).status_code == 200
    with pytest.raises(NotFound):
        await rotate_key(pool, old.key.key_id, grace=timedelta(hours=1), tenant_id=tenant)
    with pytest.raises(ValidationFailed):
        await rotate_key(pool, new.key.key_id, grace=timedelta(seconds=-1), tenant_id=tenant)


async def test_rotation_never_extends_a_key(pool: Pool) -> None:
    ends = datetime.now(UTC) + timedelta(hours=1)
    old = await issue_key(
        pool, ApiKeyCreate(tenant_id=new_tenant(), scopes=SCOPES, expires_at=ends)
    )
    new = await rotate_key(
        pool, old.key.key_id, grace=timedelta(days=30), tenant_id=old.key.tenant_id
    )
    listed = {k.key_id: k for k in await list_keys(pool, tenant_id=old.key.tenant_id)}
    old_expiry = listed[old.key.key_id].expires_at
    assert old_expiry is not None
    assert abs((old_expiry - ends).total_seconds()) < 1
    assert new.key.expires_at is not None
    assert abs((new.key.expires_at - ends).total_seconds()) < 1


async def test_last_use_is_recorded(client: httpx.AsyncClient, pool: Pool, app: FastAPI) -> None:
    issued = await issue_key(pool, ApiKeyCreate(tenant_id=new_tenant(), scopes=SCOPES))
    [before] = await list_keys(pool, tenant_id=issued.key.tenant_id)
    assert before.last_used_at is None
    started = datetime.now(UTC)
    await client.post("/patient-events", json=_event(new_patient()), headers=bearer(issued.token))
    assert await app.state.runtime.key_use.flush(pool) >= 1
    [after] = await list_keys(pool, tenant_id=issued.key.tenant_id)
    assert after.last_used_at is not None
    assert after.last_used_at >= started - timedelta(seconds=1)
