"""Carelog's MCP server: the SDK's ``MCPServer`` (protocol 2026-07-28, stateless) with the
tools of ``events`` and ``workflows``, the patient context as a resource, and the door in
front of all of them. Which tools are offered is the settings' (read-only mode, allow-list).
The transports are ``http`` (mounted in the REST app at /mcp) and ``stdio`` (``carelog mcp``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server import MCPServer
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings

from carelog import __version__
from carelog.domain.audit import AuditAction
from carelog.domain.limits import is_valid_patient_id
from carelog.domain.scopes import Permission
from carelog.errors import NotFound
from carelog.mcp import events, workflows
from carelog.mcp.door import Authenticate, Door, Resource, Spec, current, read
from carelog.services import context as context_service
from carelog.services.context.cache import ContextOptions
from carelog.services.runtime import Runtime
from carelog.services.unit import Work
from carelog.settings import Settings

TOOLS: tuple[Spec, ...] = (*events.TOOLS, *workflows.TOOLS)
CONTEXT_URI = "carelog://patients/{patient_id}/context"
CONTEXT = Resource("carelog://patients/", Permission.EVENTS_READ, AuditAction.READ)

INSTRUCTIONS = (
    "Carelog is a patient's durable, audited record and the workflows around it. Read "
    "get_patient_context before acting on a patient; every line cites event ids. Write what "
    "you observe with record_event and what you decide with record_decision (citing the "
    "events you relied on). Escalate to a clinician with open_escalation. Nothing is ever "
    "deleted: correct_event and retract_event supersede an event and keep the original. "
    "Every call is audited under your key."
)


def offered(settings: Settings) -> tuple[Spec, ...]:
    """The tools this server offers: every one, or the allow-list's; no writing tool in
    read-only mode. An unknown name in the allow-list is an error (a typo would hide a
    tool silently)."""
    names = {spec.name for spec in TOOLS}
    allowed = settings.mcp_tools
    if allowed is not None and (unknown := sorted(set(allowed) - names)):
        raise ValueError(f"CARELOG_MCP_TOOLS names unknown tools: {', '.join(unknown)}")
    return tuple(
        spec
        for spec in TOOLS
        if (allowed is None or spec.name in allowed)
        and not (settings.mcp_read_only and spec.writes)
    )


async def patient_context(
    patient_id: str,
) -> str:
    """A patient's context as Markdown (what get_patient_context returns by default)."""

    async def use(work: Work) -> str:
        if not is_valid_patient_id(patient_id):
            raise NotFound("No events for that patient.")
        runtime = current().runtime
        context = await context_service.get_context(
            work, patient_id, options=ContextOptions(), cache=runtime.context_cache,
            now=runtime.clock(),
        )  # fmt: skip
        return context.markdown()

    return await read(use)


def build_server(
    settings: Settings,
    runtime: Callable[[], Runtime],
    authenticate: Authenticate,
    *,
    token_verifier: TokenVerifier | None = None,
    auth: AuthSettings | None = None,
) -> MCPServer[Any]:
    """The MCP server, its door authenticating each call with ``authenticate``."""
    tools = offered(settings)
    door = Door(runtime, authenticate, {spec.name: spec for spec in tools}, (CONTEXT,))
    server: MCPServer[Any] = MCPServer(
        "carelog",
        title="Carelog",
        description="Durable, auditable patient memory and workflows for healthcare agents.",
        instructions=INSTRUCTIONS,
        version=__version__,
        token_verifier=token_verifier,
        auth=auth,
        tools=[spec.tool for spec in tools],
        middleware=[door],
        log_level="WARNING",
    )
    server.resource(
        CONTEXT_URI,
        name="patient_context",
        title="Patient context",
        description="What an agent reads before it acts on a patient (Markdown, cited).",
        mime_type="text/markdown",
    )(patient_context)
    return server
