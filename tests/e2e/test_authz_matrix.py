"""Every route against every kind of caller: the status each gets and the audit row each
leaves (found by its request id, in the chain of the caller's tenant)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from carelog.api.app import create_app
from carelog.api.deps import required_permissions
from carelog.api.routing import streams_body
from carelog.domain.audit import UNKNOWN_TENANT
from carelog.domain.principals import ApiKeyCreate
from carelog.domain.scopes import Permission
from carelog.errors import PROBLEM_TYPE_PREFIX
from carelog.services.auth import keys
from carelog.services.auth.keys import issue_key
from carelog.settings import Settings
from carelog.storage.db import Pool
from tests.factories import (
    audit_rows,
    bearer,
    client_address,
    count_events,
    make_token,
    new_patient,
    new_tenant,
    rate_limited_app,
)

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class World:
    tenant: str
    other_tenant: str
    patient: str
    event_id: int
    case_id: str
    job_id: str
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
        case = await client.post(
            "/escalations",
            json={"patient_id": patient, "severity": "routine", "reason": "matrix"},
            headers=bearer(await make_token(pool, tenant, "workflows:write")),
        )
        # The payer the payer routes name, and a prior-authorization case of the tenant.
        await client.put(
            "/payers/matrix-payer",
            json={"name": "Matrix Health Plan"},
            headers=bearer(await make_token(pool, tenant, "admin")),
        )
        kicked_off = await client.get(
            "/fhir/$export", headers={**bearer(writer), "Prefer": "respond-async"}
        )
    everything = ("events:read", "events:write", "audit:read", "workflows:read", "workflows:write")
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
        case_id=case.json()["id"],
        job_id=kicked_off.headers["content-location"].rsplit("/", 1)[1],
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


# Every protected route against every rejection class (issue 9, item 10) ------------------
#
# The cases are generated from the app's routes: a new protected route is covered without a
# line here, and one this generator cannot build a request for (a body model or a path
# parameter it does not know) fails `test_the_generator_knows_every_route` until it does.

CLASSES = (400, 401, 403, 404, 413, 415, 422, 429, 431)
PROBLEM_CODES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-failed",
    429: "rate-limited",
    431: "headers-too-large",
}
# Refused before the caller is known: recorded as anonymous, in the `-` chain. (431: the
# headers are refused before any is read for its meaning, the credential included. 429 is
# both: a known principal over its rate, or an address over its failed authentications.)
ANONYMOUS = frozenset({401, 431})
# The order in which a request with several faults is refused (429 apart: see its test).
PRECEDENCE = (431, 401, 403, 413, 415, 400, 422, 404)

TOO_LARGE = b"x" * (1024 * 1024 + 1)
# Routes with a body limit of their own (the settings' default), and the body over it.
TOO_LARGE_FOR = {"/patient-events/batch": b"x" * (16 * 1024 * 1024 + 1)}
# Routes that read their body themselves (no body parameter): the model of their items.
RAW_BODIES = {"/patient-events/batch": "BatchItem[]"}
NDJSON = "NDJSON"  # the body "model" of a route that streams NDJSON (routing.streamed)
MALFORMED = (b'{"patient_id": ', b'{"reason": "a", "reason": "b"}')  # cut short; a repeated key
# A body each body model accepts: the rest of a request must be right for one fault to show.
VALID_BODIES: dict[str, Callable[[], Any]] = {
    "PatientEventCreate": lambda: {
        "patient_id": new_patient(),
        "event_type": "x",
        "payload": {"n": 1},
    },
    "CorrectionCreate": lambda: {"payload": {"n": 2}, "reason": "synthetic correction"},
    "RetractionCreate": lambda: {"reason": "entered in error"},
    "EventTypeRegistration": lambda: {"schema": {"type": "object"}},
    "EventTypePolicy": lambda: {"reject_unregistered": False},
    "FhirBundle": lambda: {"resourceType": "Bundle", "type": "batch", "entry": []},
    "ResponseTargets": lambda: {"urgent": 3600},
    "EscalationOpen": lambda: {"patient_id": new_patient(), "severity": "routine", "reason": "r"},
    "POST /escalations/{case_id}/actions": lambda: {"action": "comment", "comment": "matrix"},
    "CareTaskOpen": lambda: {"patient_id": new_patient(), "description": "d", "assignee": "rn"},
    "POST /care-tasks/{case_id}/actions": lambda: {"action": "comment", "comment": "matrix"},
    "PriorAuthOpen": lambda: {
        "patient_id": new_patient(),
        "payer": {"id": "matrix-payer"},
        "lines": [{"code": "70551", "description": "MRI", "service_from": "2026-03-10"}],
        "diagnosis_codes": ["G43.909"],
        "ordering_provider": {"npi": "1234567893"},
        "channel": "portal",
    },
    "POST /prior-auth-cases/{case_id}/actions": lambda: {"action": "comment", "comment": "m"},
    "PayerRules": lambda: {"name": "Matrix Health Plan"},
    "BatchItem[]": lambda: [{"patient_id": new_patient(), "event_type": "x", "payload": {}}],
    # POST /fhir/$import: a line of NDJSON (read as it arrives, never as one JSON body).
    NDJSON: lambda: {"resourceType": "Patient", "id": new_patient()},
    # A public https address (an IP: nothing to resolve), as the SSRF rule wants.
    "SubscriptionCreate": lambda: {"url": "https://93.184.215.14/hook"},
}
# The body an NDJSON route refuses as too large: over the session's import limit (conftest).
TOO_LARGE_NDJSON = b"x" * (2 * 1024 * 1024 + 1)
# Per path parameter: whether an unknown value is looked up (404), and an invalid value.
PATH_PARAMETERS: dict[str, tuple[bool, str]] = {
    "patient_id": (True, "P x"),
    "event_id": (True, "0"),
    "job_id": (True, "not-a-job"),  # a Bulk Data export job: its principal's only
    "resource_type": (False, "bad type"),  # (the job is looked up first)
    "part": (False, "0"),
    "event_type": (False, "bad type"),  # PUT registers the type it names: nothing to miss
    "case_id": (True, "not-a-uuid"),
    "payer_id": (True, "bad payer"),  # (PUT sets the payer it names: see CREATES)
    "subscription_id": (True, "not-a-uuid"),
    "delivery_id": (True, "0"),
}
# A subscription id of no tenant's (the routes refused before the lookup never read it).
SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000024"
# POSTs that take no body: a replay names its dead letter in the path.
NO_BODY = frozenset({"POST /subscriptions/{subscription_id}/deliveries/{delivery_id}/replay"})
# Routes that create what their path names: nothing to miss there.
CREATES = frozenset({"PUT /payers/{payer_id}"})


@dataclass(frozen=True)
class ProtectedRoute:
    """What the generator needs of one protected route, read from the app."""

    method: str
    path: str
    permission: Permission
    action: str
    body_model: str | None
    path_parameters: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def lookup(self) -> str | None:
        """The path parameter an unknown value of which is a 404, if any."""
        if str(self) in CREATES:
            return None
        return next((p for p in self.path_parameters if PATH_PARAMETERS[p][0]), None)

    @property
    def invalid_by(self) -> str:
        """How this route is sent a 422: its body, else a path parameter, else the header
        every route validates (``X-Purpose-Of-Use``, checked as the caller is authenticated)."""
        if self.body_model not in (None, NDJSON):
            return "body"
        return self.path_parameters[0] if self.path_parameters else "header"

    def cannot(self, status: int) -> str | None:
        """Why ``status`` cannot occur on this route (``None``: it can, and is tested)."""
        if status == 400 and self.body_model == NDJSON:
            return "NDJSON is read line by line: a line that is not JSON fails alone, in a 200"
        if status in (400, 415) and self.body_model is None:
            return f"a {self.method} takes no body: it is never parsed nor its type checked"
        if status == 404 and self.lookup is None:
            return "nothing in the path is looked up" + (
                " (the type named is the one registered)" if self.path_parameters else ""
            )
        return None


def protected_routes(app: FastAPI) -> list[ProtectedRoute]:
    """Every route of the app that demands a permission, as the generator sees it."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not required_permissions(route):
            continue
        [permission] = required_permissions(route)
        (method,) = tuple(route.methods or ())
        body = route.body_field
        found.append(
            ProtectedRoute(
                method=method,
                path=route.path,
                permission=permission,
                action=route.endpoint.audit_action.value,  # type: ignore[attr-defined]
                # A union of bodies (a workflow's actions) is named by its route.
                body_model=NDJSON
                if streams_body(route)
                else RAW_BODIES.get(route.path)
                if body is None
                else getattr(body.field_info.annotation, "__name__", f"{method} {route.path}"),
                path_parameters=tuple(p.name for p in route.dependant.path_params),
            )
        )
    return found


ROUTES_SEEN = protected_routes(create_app(Settings(database_url="postgresql:///unused")))


@dataclass(frozen=True)
class Rejections:
    tenant: str
    patient: str
    event_id: int
    case_id: str
    token: str  # may do everything
    principal: str
    job_id: str  # an export job of the world's writer
    forbidden: dict[Permission, tuple[str, str]]  # (token, principal) lacking the permission


@pytest.fixture(scope="module")
async def rejections(world: World, pool: Pool) -> Rejections:
    token = await make_token(pool, world.tenant, "admin")
    forbidden = {}
    for permission in Permission:
        if permission.value in ALL_SCOPES:
            lacking = await make_token(pool, world.tenant, *_lacking(permission))
            forbidden[permission] = (lacking, await _principal(pool, lacking))
    return Rejections(
        tenant=world.tenant,
        patient=world.patient,
        event_id=world.event_id,
        case_id=world.case_id,
        token=token,
        principal=await _principal(pool, token),
        job_id=world.job_id,
        forbidden=forbidden,
    )


ALL_SCOPES = frozenset(
    {"events:read", "events:write", "audit:read", "workflows:read", "workflows:write", "admin"}
)


def _lacking(permission: Permission) -> list[str]:
    """Every scope but ``permission`` (and ``admin``, which grants them all)."""
    return sorted(ALL_SCOPES - {permission.value, "admin"})


async def _principal(pool: Pool, token: str) -> str:
    return (await keys.authenticate(pool, token)).name


def _request(
    route: ProtectedRoute, ctx: Rejections, faults: frozenset[int], *, malformed: bytes = b""
) -> tuple[str, dict[str, str], bytes | None]:
    """The URL, headers and body of a request to ``route`` that is wrong in ``faults`` only."""
    headers: dict[str, str] = {}
    if 431 in faults:
        headers["X-Filler"] = "a" * 40_000
    if 401 not in faults:
        headers |= bearer(ctx.forbidden[route.permission][0] if 403 in faults else ctx.token)
    if 422 in faults and route.invalid_by == "header":
        headers["X-Purpose-Of-Use"] = "NOT-A-PURPOSE"
    valid = {
        "patient_id": ctx.patient,
        "event_id": str(ctx.event_id),
        "job_id": ctx.job_id,
        "resource_type": "Observation",
        "part": "1",
        "event_type": f"matrix_{uuid.uuid4().hex[:8]}",
        "case_id": ctx.case_id,
        "payer_id": "matrix-payer",
        "subscription_id": SUBSCRIPTION_ID,
        "delivery_id": "1",
    }
    values = {}
    for name in route.path_parameters:
        if 422 in faults and route.invalid_by == name:
            values[name] = PATH_PARAMETERS[name][1]
        elif 404 in faults and route.lookup == name:
            values[name] = _unknown(name)
        else:
            values[name] = valid[name]
    url = route.path.format(**{k: quote(v, safe="") for k, v in values.items()})
    too_large = (
        TOO_LARGE_NDJSON if route.body_model == NDJSON else TOO_LARGE_FOR.get(route.path, TOO_LARGE)
    )
    content: bytes | None = too_large if 413 in faults else None
    if route.body_model is not None:
        media = "application/fhir+ndjson" if route.body_model == NDJSON else "application/json"
        headers["Content-Type"] = "text/plain" if 415 in faults else media
        if content is None:
            if 400 in faults:
                content = malformed or MALFORMED[0]
            elif 422 in faults:
                content = b"[]"  # JSON, but no object of any model
            else:
                content = orjson.dumps(VALID_BODIES[route.body_model]())
    return url, headers, content


def _unknown(name: str) -> str:
    """A value of path parameter ``name`` that names nothing."""
    unknown = {
        "event_id": "9" * 18,
        "case_id": str(uuid.uuid4()),
        "job_id": "0" * 32,
        "subscription_id": str(uuid.uuid4()),
        "delivery_id": "9" * 18,
    }
    return unknown.get(name) or new_patient()


def _outcome(status: int) -> str:
    return "denied" if status in (401, 403, 429) else "failed"


async def _audited(
    pool: Pool, route: ProtectedRoute, tenant: str, request_id: str, status: int
) -> dict[str, Any]:
    """The request's one audit row, in ``tenant``'s chain, as every rejection has it."""
    rows = [r for r in await audit_rows(pool, tenant) if r["request_id"] == request_id]
    assert len(rows) == 1, (str(route), status, rows)
    [row] = rows
    assert (row["action"], row["outcome"], row["status"], row["route"]) == (
        route.action,
        _outcome(status),
        status,
        route.path,
    ), row
    return row


def test_the_generator_knows_every_route() -> None:
    """Each protected route has a body and path parameters the generator can fill, and each
    class either has a case on it or a stated reason why it cannot occur there."""
    assert len(ROUTES_SEEN) == len({str(r) for r in ROUTES_SEEN}) >= 12
    for route in ROUTES_SEEN:
        assert route.body_model is None or route.body_model in VALID_BODIES, str(route)
        assert set(route.path_parameters) <= set(PATH_PARAMETERS), str(route)
        assert route.permission in ALL_PERMISSIONS, str(route)
        takes_body = route.method not in ("GET", "DELETE") and str(route) not in NO_BODY
        parsed = takes_body and route.body_model != NDJSON
        assert [route.cannot(s) is None for s in (400, 415)] == [parsed, takes_body], str(route)
        # 401, 403, 413, 422, 429 and 431 can be sent to every protected route.
        assert all(route.cannot(s) is None for s in (401, 403, 413, 422, 429, 431)), str(route)


ALL_PERMISSIONS = frozenset(Permission(s) for s in ALL_SCOPES)
CASES = [
    pytest.param(route, status, id=f"{route}-{status}")
    for route in ROUTES_SEEN
    for status in CLASSES
    if status != 429 and route.cannot(status) is None
]


@pytest.mark.parametrize(("route", "status"), CASES)
async def test_each_rejection_class_on_each_route(
    client: httpx.AsyncClient,
    pool: Pool,
    rejections: Rejections,
    route: ProtectedRoute,
    status: int,
) -> None:
    """The status, the problem's type, and the audit row: in the caller's tenant's chain with
    its principal, or in `-` with none when the caller is not known."""
    for malformed in MALFORMED if status == 400 else (b"",):
        request_id = f"reject-{uuid.uuid4().hex[:12]}"
        url, headers, content = _request(
            route, rejections, frozenset({status}), malformed=malformed
        )
        headers["X-Request-ID"] = request_id
        response = await client.request(route.method, url, headers=headers, content=content)
        assert response.status_code == status, (str(route), response.text)
        problem = response.json()
        assert problem["type"] == PROBLEM_TYPE_PREFIX + PROBLEM_CODES[status]
        assert problem["request_id"] == request_id
        if status in ANONYMOUS:
            row = await _audited(pool, route, UNKNOWN_TENANT, request_id, status)
            assert row["principal_id"] is None
            assert await audit_rows_of(pool, rejections.tenant, request_id) == []
        else:
            row = await _audited(pool, route, rejections.tenant, request_id, status)
            expected = (
                rejections.forbidden[route.permission][1] if status == 403 else rejections.principal
            )
            assert row["principal_id"] == expected
            assert await audit_rows_of(pool, UNKNOWN_TENANT, request_id) == []


async def audit_rows_of(pool: Pool, tenant: str, request_id: str) -> list[dict[str, Any]]:
    return [r for r in await audit_rows(pool, tenant) if r["request_id"] == request_id]


@pytest.mark.parametrize("route", ROUTES_SEEN, ids=str)
async def test_the_first_fault_decides(
    client: httpx.AsyncClient, rejections: Rejections, route: ProtectedRoute
) -> None:
    """A request wrong in several ways is refused for the first in PRECEDENCE: the caller
    before its body, the body's size before its type, its type before its syntax, syntax
    before validation, validation before the lookup. (A 422 of ``X-Purpose-Of-Use`` belongs
    to authentication, before 403: it is left out of the chain.)"""
    chain = [
        status
        for status in PRECEDENCE
        if route.cannot(status) is None and not (status == 422 and route.invalid_by == "header")
    ]
    for start, expected in enumerate(chain):
        faults = frozenset(chain[start:])
        url, headers, content = _request(route, rejections, faults)
        response = await client.request(route.method, url, headers=headers, content=content)
        assert response.status_code == expected, (str(route), sorted(faults), response.text)


@pytest.fixture(scope="module")
async def limited_app(database_url: str) -> AsyncIterator[FastAPI]:
    """The app with a bucket of one request per principal, refilled once in 1,000 s."""
    async with rate_limited_app(database_url, per_second=0.001, burst=1) as application:
        yield application


@pytest.mark.parametrize("route", ROUTES_SEEN, ids=str)
async def test_429_on_each_route_before_the_scope_and_the_body(
    limited_app: FastAPI, pool: Pool, rejections: Rejections, route: ProtectedRoute
) -> None:
    """A principal over its limit is told 429 before it is told it lacks the scope, and
    before anything about its body is looked at."""
    token = await make_token(pool, rejections.tenant, *_lacking(route.permission))
    # The wrong scope, and every fault the body can have.
    faults = frozenset(s for s in (403, 413, 415, 400) if route.cannot(s) is None)
    url, headers, content = _request(route, rejections, faults)
    headers |= bearer(token)
    transport = httpx.ASGITransport(app=limited_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = await client.request(route.method, url, headers=headers, content=content)
        request_id = f"reject-{uuid.uuid4().hex[:12]}"
        second = await client.request(
            route.method, url, headers={**headers, "X-Request-ID": request_id}, content=content
        )
    assert first.status_code == 403, (str(route), first.text)
    assert second.status_code == 429, (str(route), second.text)
    assert second.json()["type"] == PROBLEM_TYPE_PREFIX + PROBLEM_CODES[429]
    assert int(second.headers["retry-after"]) >= 1
    row = await _audited(pool, route, rejections.tenant, request_id, 429)
    assert row["principal_id"] == await _principal(pool, token)


@pytest.mark.parametrize("route", ROUTES_SEEN, ids=str)
async def test_429_on_each_route_for_an_address_that_keeps_failing(
    app: FastAPI, pool: Pool, rejections: Rejections, route: ProtectedRoute
) -> None:
    """The other 429: an address over its limit of failed authentications (item 8) is told
    so before its credential is looked up, on every route; that attempt is anonymous too."""
    url, headers, content = _request(route, rejections, frozenset({401}))
    headers |= bearer("clk_madeup_0123456789abcdefghij")
    transport = httpx.ASGITransport(app=app, client=client_address())
    statuses: list[int] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        while 429 not in statuses and len(statuses) < 100:
            request_id = f"reject-{uuid.uuid4().hex[:12]}"
            response = await client.request(
                route.method, url, headers={**headers, "X-Request-ID": request_id}, content=content
            )
            statuses.append(response.status_code)
    assert set(statuses[:-1]) == {401}, (str(route), statuses)
    assert statuses[-1] == 429, (str(route), statuses)
    assert response.json()["type"] == PROBLEM_TYPE_PREFIX + PROBLEM_CODES[429]
    assert int(response.headers["retry-after"]) >= 1
    row = await _audited(pool, route, UNKNOWN_TENANT, request_id, 429)
    assert row["principal_id"] is None


LOOKUP_ROUTES = [pytest.param(r, id=str(r)) for r in ROUTES_SEEN if r.lookup is not None]


@pytest.mark.parametrize("route", LOOKUP_ROUTES)
async def test_another_tenants_patient_or_event_is_not_found_on_each_route(
    client: httpx.AsyncClient, pool: Pool, world: World, route: ProtectedRoute
) -> None:
    """Issue 10, item 5: every protected route that looks a patient or an event up, asked by
    a key of another tenant with every scope the route needs for this tenant's (existing)
    patient, event or case, answers 404 as for one that does not exist, audits the attempt in the
    caller's own chain, and changes nothing of this tenant's."""
    assert route.permission.value in (
        "events:read", "events:write", "audit:read", "workflows:read", "workflows:write", "admin",
    )  # fmt: skip
    token = world.tokens["wrong tenant"]
    if route.permission is Permission.ADMIN:  # (webhook subscriptions)
        token = await make_token(pool, world.other_tenant, "admin")
    assert token is not None
    request_id = f"other-{uuid.uuid4().hex[:12]}"
    values = {
        "patient_id": world.patient,
        "event_id": str(world.event_id),
        "case_id": world.case_id,
        "payer_id": "matrix-payer",
        "job_id": world.job_id,
        "resource_type": "Patient",
        "part": "1",
        "delivery_id": "1",
    }
    if "subscription_id" in route.path_parameters:
        values["subscription_id"] = await _subscription(client, pool, world.tenant)
    url = route.path.format(**{name: values[name] for name in route.path_parameters})
    headers = {**bearer(token), "X-Request-ID": request_id}
    content = None
    if route.body_model is not None:
        headers["Content-Type"] = "application/json"
        content = orjson.dumps(VALID_BODIES[route.body_model]())
    before = await count_events(pool, world.tenant)
    response = await client.request(route.method, url, headers=headers, content=content)
    assert response.status_code == 404, (str(route), response.text)
    assert response.json()["code"] == "not-found"
    assert world.patient not in response.text
    row = await _audited(pool, route, world.other_tenant, request_id, 404)
    assert row["tenant_id"] == world.other_tenant
    assert row["patient_id"] in (None, world.patient)  # the id it asked for, never more
    assert row["event_ids"] in (None, [], [world.event_id])
    assert await audit_rows_of(pool, world.tenant, request_id) == []
    assert await count_events(pool, world.tenant) == before


async def _subscription(client: httpx.AsyncClient, pool: Pool, tenant: str) -> str:
    """The id of a new subscription of ``tenant``'s."""
    admin = bearer(await make_token(pool, tenant, "admin"))
    made = await client.post(
        "/subscriptions", json=VALID_BODIES["SubscriptionCreate"](), headers=admin
    )
    assert made.status_code == 201, made.text
    subscription: str = made.json()["id"]
    return subscription


def test_every_looking_up_route_is_asked_by_another_tenant() -> None:
    """The routes that look something up are the ones with a patient or an event in the
    path: twenty today; a new one is added to the test above by the generator."""
    assert {str(p.values[0]) for p in LOOKUP_ROUTES} == {
        "GET /patient-events/{patient_id}",
        "GET /events/{event_id}",
        "POST /events/{event_id}/corrections",
        "POST /events/{event_id}/retractions",
        "GET /patients/{patient_id}/context",
        "GET /patients/{patient_id}/fhir",
        "GET /escalations/{case_id}",
        "POST /escalations/{case_id}/actions",
        "GET /care-tasks/{case_id}",
        "POST /care-tasks/{case_id}/actions",
        "GET /prior-auth-cases/{case_id}",
        "POST /prior-auth-cases/{case_id}/actions",
        "GET /payers/{payer_id}",
        "GET /fhir/$export-status/{job_id}",
        "DELETE /fhir/$export-status/{job_id}",
        "GET /fhir/$export-files/{job_id}/{resource_type}/{part}",
        "GET /subscriptions/{subscription_id}",
        "DELETE /subscriptions/{subscription_id}",
        "GET /subscriptions/{subscription_id}/deliveries",
        "POST /subscriptions/{subscription_id}/deliveries/{delivery_id}/replay",
    }
