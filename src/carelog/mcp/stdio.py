"""The MCP server over stdio (``carelog mcp``), for a model host that launches Carelog as a
subprocess: it acts as the API key in ``CARELOG_API_KEY``, authenticated again at every call
(a revoked key stops working at once, as over HTTP), on the database the service uses.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import ServerRequestContext

from carelog.domain.principals import Principal
from carelog.mcp.server import build_server
from carelog.services.auth.bearer import authenticate_bearer
from carelog.services.runtime import Runtime, running
from carelog.settings import Settings


async def serve_stdio(settings: Settings, key: str) -> None:
    """Serve MCP on stdin and stdout until the host closes them. A key that does not
    authenticate fails here, before anything is served."""
    # The service's instance runs the export workers; this one serves one host.
    async with running(settings.model_copy(update={"export_workers": 0})) as runtime:
        await authenticate_bearer(runtime, key)

        async def principal(runtime: Runtime, ctx: ServerRequestContext[Any, Any]) -> Principal:
            del ctx
            return await authenticate_bearer(runtime, key)

        server = build_server(settings, lambda: runtime, principal)
        await server.run_stdio_async()
