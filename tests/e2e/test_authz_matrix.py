"""Every route against every kind of caller: the status each gets and the audit row each
leaves (found by its request id, in the chain of the caller's tenant)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from carelog.domain.audit import UNKNOWN_TENANT
from carelog.domain.principals import ApiKeyCreate
from carelog.services.keys import issue_key
from carelog.storage.db import Pool
from tests.factories import audit_rows, bearer, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class World:
    tenant: str
    other_tenant: str
    patient: str
    event_id: int
    tokens: dict[str, str | None]


@pytest.fixture(scope="module")
async def world(app: object, pool: Pool) -> World:
    tenant, other_tenant, patient = new_tenant(), new_tenant(), new_patient()
    writer = await make_token(pool, tenant)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        created = await client.post(
            "/patient-events",
            json={"patient_id": patient, "event_type": "x", "payload": {}},
            headers=bearer(writer),
        )
    everything = ("events:read", "events:write", "audit:read")
    limited = await issue_key(
        pool,
        ApiKeyCreate(
            tenant_id=tenant,
            scopes=frozenset({"patient/*.cruds"}),
            patients=frozenset({new_patient()}),
        ),
    )
    return World(
        tenant=tenant,
        other_tenant=other_tenant,
        patient=patient,
        event_id=created.json()["id"],
        tokens={
            "anonymous": None,
            "wrong tenant": await make_token(pool, other_tenant, *everything),
            "missing scope": await make_token(pool, tenant, "events:read"),
            "patient-limited": limited.token,
            "right scope": await make_token(pool, tenant, *everything),
        },
    )


ROUTES = ["create", "list", "read", "audit search", "audit verify"]
# Expected (status, audit action, audit outcome) per route and caller.
EXPECTED: dict[str, dict[str, tuple[int, str, str]]] = {
    "anonymous": {r: (401, "", "denied") for r in ROUTES},
    "wrong tenant": {
        "create": (200, "create", "success"),  # into its own tenant
        "list": (404, "search", "failed"),  # a 404 is a failed 404 on every route
        "read": (404, "read", "failed"),
        "audit search": (200, "search", "success"),
        "audit verify": (200, "execute", "success"),
    },
    "missing scope": {
        "create": (403, "create", "denied"),
        "list": (200, "search", "success"),
        "read": (200, "read", "success"),
        "audit search": (403, "search", "denied"),
        "audit verify": (403, "execute", "denied"),
    },
    "patient-limited": {
        "create": (403, "create", "denied"),
        "list": (404, "search", "failed"),
        "read": (404, "read", "failed"),
        "audit search": (403, "search", "denied"),
        "audit verify": (403, "execute", "denied"),
    },
    "right scope": {
        "create": (200, "create", "success"),
        "list": (200, "search", "success"),
        "read": (200, "read", "success"),
        "audit search": (200, "search", "success"),
        "audit verify": (200, "execute", "success"),
    },
}
ACTIONS = {
    "create": "create",
    "list": "search",
    "read": "read",
    "audit search": "search",
    "audit verify": "execute",
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("caller", list(EXPECTED))
async def test_authorization_matrix(
    client: httpx.AsyncClient, pool: Pool, world: World, caller: str, route: str
) -> None:
    token = world.tokens[caller]
    request_id = f"matrix-{uuid.uuid4().hex[:12]}"
    headers = {"X-Request-ID": request_id, **(bearer(token) if token else {})}
    # A fresh patient: writes must not change what the other cases read.
    body = {"patient_id": new_patient(), "event_type": "x", "payload": {"n": 1}}
    requests = {
        "create": ("POST", "/patient-events"),
        "list": ("GET", f"/patient-events/{world.patient}"),
        "read": ("GET", f"/events/{world.event_id}"),
        "audit search": ("GET", "/audit-events"),
        "audit verify": ("GET", "/audit-events/verify"),
    }
    method, path = requests[route]
    response = await client.request(
        method, path, json=body if method == "POST" else None, headers=headers
    )
    status, _, outcome = EXPECTED[caller][route]
    assert response.status_code == status, response.text

    chain = {
        "anonymous": UNKNOWN_TENANT,
        "wrong tenant": world.other_tenant,
    }.get(caller, world.tenant)
    rows = [r for r in await audit_rows(pool, chain) if r["request_id"] == request_id]
    assert len(rows) == 1, rows
    assert (rows[0]["action"], rows[0]["outcome"]) == (ACTIONS[route], outcome)
    if caller == "wrong tenant" and route == "audit search":
        assert all(r["tenant_id"] == world.other_tenant for r in response.json())
