"""The OpenAPI document says how to authenticate, so Swagger UI's "Try it out" can.

It declares the bearer scheme, and each protected operation names the permission its route
checks: derived from the routes' own scope dependencies, never written per route.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi.routing import APIRoute

from carelog.api import docs
from carelog.api.app import PROTECTED_ROUTERS
from carelog.api.deps import BEARER_SCHEME, required_permissions
from carelog.api.routes import health
from carelog.storage.db import Pool
from tests.factories import bearer, make_token, new_tenant

pytestmark = pytest.mark.e2e

# The routes anyone may call, on purpose (see api/app.py): health, and the docs page.
PUBLIC = {"/healthz", "/readyz", "/docs"}


async def test_openapi_declares_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes.keys() == {BEARER_SCHEME}
    scheme = schemes[BEARER_SCHEME]
    # What makes Swagger UI's "Authorize" send "Authorization: Bearer <what you paste>".
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert "API key" in scheme["description"]
    assert "security" not in schema  # no blanket requirement: each operation states its own


async def test_each_operation_names_the_permission_its_route_checks(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    routes = [
        route
        for router in [health.router, docs.router, *PROTECTED_ROUTERS]
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    # These routers are all the app has: the document holds their operations and no other.
    documented = {(path, method) for path, item in paths.items() for method in item}
    assert documented == {
        (route.path, method.lower())
        for route in routes
        if route.include_in_schema
        for method in route.methods or ()
    }
    protected = 0
    for route in routes:
        permissions = sorted(p.value for p in required_permissions(route))
        if not permissions:
            assert route.path in PUBLIC, f"{route.path} is public but not meant to be"
        for method in route.methods or ():
            if not route.include_in_schema:
                assert not permissions, f"{method} {route.path} is protected but undocumented"
                continue
            operation = paths[route.path][method.lower()]
            if permissions:
                protected += 1
                assert operation["security"] == [{BEARER_SCHEME: permissions}], route.path
                assert "401" in operation["responses"], route.path
            else:
                assert "security" not in operation, route.path
    assert protected >= 12


async def test_try_it_out_sends_what_the_routes_accept(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    """The request Swagger UI builds for the scheme: the token in the Authorization header."""
    token = await make_token(pool, new_tenant(), "events:read")
    assert (await client.get("/event-types")).status_code == 401
    assert (await client.get("/event-types", headers=bearer(token))).status_code == 200
