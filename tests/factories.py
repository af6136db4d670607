"""Plain factory functions for tests: tenants, patients, keys, events (stored and as the
domain sees them), and direct row counts."""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from psycopg.rows import dict_row

from carelog.api.app import create_app
from carelog.domain.access import Access
from carelog.domain.audit import AuditContext
from carelog.domain.events import PatientEvent
from carelog.domain.principals import ApiKeyCreate, Credential, Principal, PrincipalKind
from carelog.domain.scopes import Permission
from carelog.services.auth.keys import issue_key
from carelog.settings import Settings
from carelog.storage.db import Pool, connection


@asynccontextmanager
async def rate_limited_app(
    database_url: str, *, per_second: float, burst: int
) -> AsyncIterator[FastAPI]:
    """A started app of its own whose principals have a bucket of ``burst`` requests,
    refilled at ``per_second``."""
    settings = Settings(
        database_url=database_url,
        rate_limit_per_second=per_second,
        rate_limit_burst=burst,
        pool_min_size=1,
        pool_max_size=2,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


class Clock:
    """A monotonic clock for tests, moved by hand (``clock.now += seconds``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


_addresses = itertools.count(1)


def client_address() -> tuple[str, int]:
    """A client address (10.x.y.z) and port no other test of this session uses: failed
    authentication is limited, and its repeats counted, per client address."""
    n = next(_addresses)
    return f"10.{(n >> 16) % 256}.{(n >> 8) % 256}.{n % 256}", 40000


def new_tenant() -> str:
    """A tenant id no other test uses."""
    return f"t-{uuid.uuid4().hex[:10]}"


def patient_event(
    event_id: int,
    event_type: str,
    payload: dict[str, Any],
    *,
    occurred_at: datetime,
    recorded_at: datetime | None = None,
    supersedes: int | None = None,
    status: str = "final",
    labels: Sequence[str] = (),
) -> PatientEvent:
    """An event of patient P-1 as the domain sees it (for the pure context builder), recorded
    when it occurred unless ``recorded_at`` says otherwise."""
    return PatientEvent(
        id=event_id,
        patient_id="P-1",
        event_type=event_type,
        payload=payload,
        occurred_at=occurred_at,
        created_at=recorded_at or occurred_at,
        recorded_by="key:test",
        supersedes=supersedes,
        status=status,
        labels=list(labels),
    )


def fhir_event(
    event_id: int, event_type: str, payload: dict[str, Any], **more: Any
) -> PatientEvent:
    """An event of patient P-1 as the domain sees it, at a fixed time (the FHIR mapping
    tests' unit)."""
    fields: dict[str, Any] = {
        "occurred_at": datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
        "created_at": datetime(2025, 3, 1, 10, tzinfo=UTC),
        **more,
    }
    return PatientEvent(
        id=event_id,
        patient_id="P-1",
        event_type=event_type,
        payload=payload,
        recorded_by="k1",
        **fields,
    )


def make_access(tenant: str, *permissions: Permission) -> Access:
    """What the REST edge builds for a request of a key of ``tenant`` holding
    ``permissions`` (read and write when none are named), audit row filled in as it does."""
    principal = Principal(
        tenant_id=tenant,
        key_id=f"test-{uuid.uuid4().hex[:8]}",
        credential=Credential.KEY,
        permissions=frozenset(permissions or (Permission.EVENTS_READ, Permission.EVENTS_WRITE)),
    )
    audit = AuditContext(
        request_id=uuid.uuid4().hex,
        client_address=None,
        route="/test",
        tenant_id=tenant,
        principal_kind=principal.kind.value,
        principal_id=principal.name,
        purpose_of_use=principal.default_purpose,
    )
    return Access(principal, audit)


def new_patient() -> str:
    """A synthetic patient id no other test uses."""
    return f"P-{uuid.uuid4().hex[:10]}"


async def make_token(pool: Pool, tenant: str, *scopes: str) -> str:
    """Issue a key for ``tenant`` with ``scopes`` (read and write when none are named)."""
    chosen = frozenset(scopes or ("events:read", "events:write"))
    issued = await issue_key(pool, ApiKeyCreate(tenant_id=tenant, scopes=chosen, name="test"))
    return issued.token


async def make_key(
    pool: Pool,
    tenant: str,
    *scopes: str,
    kind: PrincipalKind = PrincipalKind.SERVICE,
    patients: frozenset[str] | None = None,
) -> dict[str, str]:
    """The Authorization header of a new key of ``kind`` (an agent is named ``intake-bot``)."""
    issued = await issue_key(
        pool,
        ApiKeyCreate(
            tenant_id=tenant,
            scopes=frozenset(scopes),
            name="test",
            kind=kind,
            agent_name="intake-bot" if kind is PrincipalKind.AGENT else None,
            patients=patients,
        ),
    )
    return bearer(issued.token)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def count_events(pool: Pool, tenant: str) -> int:
    """Rows in the event log for ``tenant``, read straight from the database."""
    async with connection(pool, tenant) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM patient_events WHERE tenant_id = %s", (tenant,)
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def tenant_rows(pool: Pool, tenant: str, query: str) -> list[dict[str, Any]]:
    """The rows of ``query`` (its one parameter the tenant), as the tenant's connection
    reads them straight from the database."""
    async with connection(pool, tenant) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (tenant,))
        return await cur.fetchall()


async def audit_rows(pool: Pool, tenant: str) -> list[dict[str, Any]]:
    """The tenant's audit rows, oldest first, read straight from the database."""
    return await tenant_rows(
        pool,
        tenant,
        "SELECT * FROM audit_events WHERE tenant_id = %s ORDER BY recorded_at, lane, seq",
    )


async def record(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    patient: str,
    event_type: str,
    payload: dict[str, Any],
    **extra: Any,
) -> int:
    """POST one event over the API and return its id (the request must succeed)."""
    body = {"patient_id": patient, "event_type": event_type, "payload": payload, **extra}
    response = await client.post("/patient-events", json=body, headers=headers)
    assert response.status_code == 200, response.text
    event_id: int = response.json()["id"]
    return event_id


def changed(resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``resource`` with ``changes``: each element set, or taken out when
    given ``None``."""
    found = copy.deepcopy(resource)
    for key, value in changes.items():
        if value is None:
            found.pop(key, None)
        else:
            found[key] = value
    return found


async def correct(
    client: httpx.AsyncClient, headers: dict[str, str], event_id: int, payload: dict[str, Any]
) -> int:
    """Correct an event over the API with ``payload``; the correction's id (it must
    succeed)."""
    response = await client.post(
        f"/events/{event_id}/corrections",
        json={"payload": payload, "reason": "re-read by the lab"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    corrected: int = response.json()["id"]
    return corrected


async def retract(client: httpx.AsyncClient, headers: dict[str, str], event_id: int) -> int:
    """Retract an event over the API; the retraction's id (it must succeed)."""
    response = await client.post(
        f"/events/{event_id}/retractions", json={"reason": "wrong patient"}, headers=headers
    )
    assert response.status_code == 200, response.text
    retracted: int = response.json()["id"]
    return retracted


def glucose(value: float) -> dict[str, Any]:
    """A lab_result payload: a glucose of ``value`` mg/dL."""
    return {"test": "Glucose", "loinc": "2345-7", "value": value, "unit": "mg/dL"}
