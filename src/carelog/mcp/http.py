"""The MCP server over streamable HTTP, in the REST app at ``/mcp``: a resource server in the
MCP authorization spec's sense (RFC 9728 protected-resource metadata; 401 with
``WWW-Authenticate`` naming it for a missing or bad token), which authenticates each bearer
with Carelog's own authenticator (API key or OIDC token, as the REST API) and keeps only the
principal: the token itself is not kept, and never passed on.

The SDK's Starlette app is reached through plain routes of the REST app, so the REST
middleware (request ids, the access log, body limits) covers it and the OpenAPI document,
which lists only the REST routes, leaves it out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.routing import Route

from carelog.domain.principals import Principal
from carelog.errors import Unauthenticated
from carelog.mcp.gate import Gate
from carelog.mcp.server import build_server
from carelog.services.auth.bearer import authenticate_bearer
from carelog.services.runtime import Runtime
from carelog.settings import Settings

MCP_PATH = "/mcp"


class CarelogToken(AccessToken):
    """A verified bearer as the SDK carries it: the principal it names (no token kept)."""

    principal: Principal


class CarelogTokenVerifier:
    """The SDK's ``TokenVerifier``: a bearer is valid when Carelog's authenticator says so."""

    def __init__(self, runtime: Callable[[], Runtime]) -> None:
        self._runtime = runtime

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            principal = await authenticate_bearer(self._runtime(), token)
        except Unauthenticated:
            return None
        expires = principal.expires_at
        return CarelogToken(
            token="",  # not kept: the principal is all the server needs
            client_id=principal.name,
            subject=principal.name,
            scopes=sorted(permission.value for permission in principal.permissions),
            expires_at=int(expires.timestamp()) if expires is not None else None,
            principal=principal,
        )


async def bearer_principal(runtime: Runtime, ctx: ServerRequestContext[Any, Any]) -> Principal:
    """The principal of the HTTP request's verified bearer."""
    del runtime, ctx
    token = get_access_token()
    if not isinstance(token, CarelogToken):
        raise Unauthenticated("Send an API key as 'Authorization: Bearer <key>'.")
    return token.principal


def _authorization_server(settings: Settings) -> str:
    if settings.mcp_authorization_server:
        return settings.mcp_authorization_server
    if settings.oidc_issuer:
        return settings.oidc_issuer
    # API keys only: this service's operator issues them (carelog keys create).
    parts = urlsplit(settings.mcp_resource_url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, slots=True)
class McpHttp:
    """The MCP server and the REST app's routes that reach it."""

    server: MCPServer[Any]
    routes: list[Route]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The SDK's session manager, running for the block (the REST app's lifespan).

        It runs in a task of its own: its task group must be left by the task that entered
        it, and a lifespan's start and end need not run in one task (a test's fixture)."""
        started, stop = asyncio.Event(), asyncio.Event()

        async def run() -> None:
            async with self.server.session_manager.run():
                started.set()
                await stop.wait()

        task = asyncio.create_task(run(), name="carelog-mcp-sessions")
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            waiting.cancel()
            task.result()  # its failure, raised here
        try:
            yield
        finally:
            stop.set()
            await task


def mcp_http(settings: Settings, runtime: Callable[[], Runtime]) -> McpHttp:
    """The MCP server over streamable HTTP, as routes to add to the REST app (whose
    lifespan must run ``server.session_manager.run()``)."""
    auth = AuthSettings(
        issuer_url=AnyHttpUrl(_authorization_server(settings)),
        resource_server_url=AnyHttpUrl(settings.mcp_resource_url),
        # Carelog's authenticator checks the token itself (a JWT's audience: CARELOG_OIDC_AUDIENCE).
        validate_token_resource=False,
    )
    server = build_server(
        settings, runtime, bearer_principal, token_verifier=CarelogTokenVerifier(runtime), auth=auth
    )
    hosts = settings.mcp_allowed_hosts
    # Every request carries its bearer (a browser never adds it by itself), so the Host
    # check is opt-in: for deployments that want DNS-rebinding protection as well.
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=bool(hosts), allowed_hosts=hosts
    )
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        json_response=True,
        stateless_http=True,  # older clients too: no session, any worker serves any request
        transport_security=security,
    )
    routes = [
        Route(
            route.path,
            endpoint=Gate(app, runtime) if route.path == MCP_PATH else app,
            methods=getattr(route, "methods", None),
        )
        for route in app.routes
        if isinstance(route, Route)
    ]
    return McpHttp(server, routes)
