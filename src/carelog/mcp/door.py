"""The MCP door: every tool call and resource read becomes an :class:`Access` through
``Channel.MCP``, exactly as a REST request does in ``api/deps.py``.

:class:`Door` is the server's middleware (the SDK's ``ServerMiddleware``): around each
``tools/call`` and ``resources/read`` it authenticates the caller (the bearer of the HTTP
request, or the stdio key), builds the audit row's context (route ``mcp tools/call <tool>``),
checks the tool's permission and the principal's rate limit, validates the arguments
(naming fields, never echoing values), runs the tool, and writes the denied or failed audit
row of a call that ended without one, as the REST request middleware does. A tool's body
calls the services through :func:`run`, in one unit of work of that access.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ValidationError

from carelog.domain.access import Access, Channel
from carelog.domain.audit import AuditAction, AuditContext
from carelog.domain.limits import is_valid_patient_id
from carelog.domain.principals import Principal
from carelog.domain.scopes import Permission
from carelog.errors import (
    CarelogError,
    Forbidden,
    TooManyRequests,
    ValidationFailed,
)
from carelog.services.audit import record_attempt
from carelog.services.runtime import Runtime
from carelog.services.unit import Work, unit_of_work

# Who is calling, for one message: the HTTP request's bearer, or the stdio key.
Authenticate = Callable[[Runtime, ServerRequestContext[Any, Any]], Awaitable[Principal]]


@dataclass(frozen=True, slots=True)
class Spec:
    """One tool as the door sees it: the SDK's tool, the permission it needs (as its REST
    route) and the action its audit rows record."""

    tool: Tool
    permission: Permission
    action: AuditAction

    @property
    def name(self) -> str:
        return self.tool.name

    @property
    def writes(self) -> bool:
        annotations = self.tool.annotations
        return annotations is None or not annotations.read_only_hint


def spec(
    fn: Callable[..., Awaitable[CallToolResult]],
    *,
    permission: Permission,
    action: AuditAction,
    title: str,
    read_only: bool,
    destructive: bool | None = None,
    idempotent: bool | None = None,
) -> Spec:
    """A tool from ``fn`` (its docstring the description, its annotated parameters the input
    schema) with the hints a host shows its user; every tool stays inside this service
    (``openWorldHint`` false)."""
    annotations = ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=None if read_only else destructive,
        idempotent_hint=None if read_only else idempotent,
        open_world_hint=False,
    )
    tool = Tool.from_function(fn, title=title, annotations=annotations, structured_output=False)
    return Spec(tool, permission, action)


@dataclass(slots=True)
class Call:
    """The call being served: its access, the runtime, and the status it failed with."""

    access: Access
    runtime: Runtime
    status: int | None = None


_CALL: ContextVar[Call] = ContextVar("carelog_mcp_call")


def current() -> Call:
    """The call the running tool serves (set by the door around it)."""
    return _CALL.get()


def problem(error: CarelogError) -> dict[str, Any]:
    """An error as the tool result's structured content: the REST API's problem fields."""
    body: dict[str, Any] = {"code": error.code, "status": error.status, "detail": error.detail}
    if error.errors:
        body["errors"] = error.errors
    body.update(error.extensions)
    return body


def failure(error: CarelogError) -> CallToolResult:
    """A tool error the model can read and act on: what went wrong, by code and field."""
    body = problem(error)
    text = f"{error.code} ({error.status}): {error.detail}"
    if error.errors:
        text += "\n" + "\n".join(
            f"- {e.get('field', '?')}: {e.get('message', '')}" for e in error.errors
        )
    extra = {k: v for k, v in body.items() if k not in {"code", "status", "detail", "errors"}}
    if extra:
        text += "\n" + json.dumps(extra, default=str)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=body, is_error=True
    )


def answer(body: dict[str, Any], *, cited: list[int], text: str | None = None) -> CallToolResult:
    """A tool's result: ``body`` as structured content with the ids of the events it rests
    on (``cited_event_ids``, so a host can show its sources), and as text (JSON unless
    given)."""
    structured = {**body, "cited_event_ids": sorted(set(cited))}
    shown = text if text is not None else json.dumps(structured, default=str)
    return CallToolResult(
        content=[TextContent(type="text", text=shown)], structured_content=structured
    )


def validation_failed(exc: ValidationError, *, prefix: str = "") -> ValidationFailed:
    """Pydantic's errors by field and message; the values sent are never repeated."""
    errors = [
        {
            "field": ".".join([*([prefix] if prefix else []), *(str(p) for p in e["loc"])]),
            "message": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors(include_input=False, include_url=False)
    ]
    names = ", ".join(str(e["field"]) for e in errors)
    return ValidationFailed(f"Invalid arguments: {names}.", errors=errors)


async def run(use: Callable[[Work], Awaitable[CallToolResult]]) -> CallToolResult:
    """Run a tool's use case in a unit of work of the call's access; a Carelog error (or an
    argument the domain refuses) becomes a tool error, and its status the audit row's."""
    call = current()
    try:
        async with unit_of_work(call.runtime.pool, call.access) as work:
            return await use(work)
    except ValidationError as exc:
        error: CarelogError = validation_failed(exc)
    except CarelogError as exc:
        error = exc
    call.status = error.status
    return failure(error)


async def read(use: Callable[[Work], Awaitable[str]]) -> str:
    """:func:`run` for a resource: a failure is a resource error (a JSON-RPC error)."""
    call = current()
    try:
        async with unit_of_work(call.runtime.pool, call.access) as work:
            return await use(work)
    except CarelogError as exc:
        call.status = exc.status
        raise ResourceError(f"{exc.code} ({exc.status}): {exc.detail}") from None


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource template the door guards: what it needs and what it is audited as."""

    prefix: str
    permission: Permission
    action: AuditAction


class Door:
    """The server middleware that turns each call into an audited :class:`Access`."""

    def __init__(
        self,
        runtime: Callable[[], Runtime],
        authenticate: Authenticate,
        tools: Mapping[str, Spec],
        resources: tuple[Resource, ...],
    ) -> None:
        self._runtime = runtime
        self._authenticate = authenticate
        self._tools = tools
        self._resources = resources

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        params = ctx.params or {}
        if ctx.method == "tools/call":
            name = str(params.get("name", ""))
            found = self._tools.get(name)
            if found is None:
                return await call_next(ctx)  # the SDK answers an unknown tool
            arguments = params.get("arguments") or {}
            return await self._serve(
                ctx, call_next, found.permission, found.action, f"tools/call {name}",
                arguments if isinstance(arguments, dict) else {}, found,
            )  # fmt: skip
        if ctx.method == "resources/read":
            uri = str(params.get("uri", ""))
            for resource in self._resources:
                if uri.startswith(resource.prefix):
                    return await self._serve(
                        ctx, call_next, resource.permission, resource.action,
                        f"resources/read {resource.prefix}", {"patient_id": _patient_of(uri)},
                        None,
                    )  # fmt: skip
        return await call_next(ctx)

    async def _serve(
        self,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
        permission: Permission,
        action: AuditAction,
        route: str,
        arguments: dict[str, Any],
        tool: Spec | None,
    ) -> HandlerResult:
        runtime = self._runtime()
        audit = _audit_context(ctx, route)
        status: int | None = None
        call: Call | None = None
        try:
            principal = await self._authenticate(runtime, ctx)
            _fill(audit, principal)
            access = Access(principal, audit, Channel.MCP)
            if not principal.has(permission):
                raise Forbidden(f"This key's scopes do not grant '{permission.value}'.")
            _limit(runtime, principal)
            if tool is not None:
                try:
                    tool.tool.fn_metadata.validate_arguments(arguments)
                except ValidationError as exc:
                    raise validation_failed(exc) from None
            call = Call(access, runtime)
            token = _CALL.set(call)
            try:
                result = await call_next(ctx)
            finally:
                _CALL.reset(token)
            status = _error_status(result) if tool is not None else None
            return result
        except CarelogError as exc:
            status = exc.status
            if tool is None:
                raise ResourceError(f"{exc.code} ({exc.status}): {exc.detail}") from None
            return failure(exc)
        except asyncio.CancelledError:
            audit.written = True  # the host went away: nothing to answer, no row to wait for
            raise
        except Exception:
            status = 500  # (a resource's failure: its Carelog status, if any, is the call's)
            raise
        finally:
            if call is not None and call.status:
                status = call.status
            if not audit.written:
                await _audit_unaudited(runtime, audit, action, status or 200, arguments)


def _error_status(result: HandlerResult) -> int | None:
    # A result the SDK itself made an error of (no Carelog status): a failure of the server.
    if isinstance(result, CallToolResult):
        return 500 if result.is_error else None
    if isinstance(result, dict):
        return 500 if result.get("isError") else None
    return None


def _patient_of(uri: str) -> str | None:
    # carelog://patients/{patient_id}/context
    parts = uri.removeprefix("carelog://patients/").split("/")
    return parts[0] if parts and parts[0] else None


def _audit_context(ctx: ServerRequestContext[Any, Any], route: str) -> AuditContext:
    request = ctx.request
    scope: Mapping[str, Any] = getattr(request, "scope", None) or {}
    request_id = scope.get("carelog.request_id") or f"mcp-{uuid.uuid4().hex}"
    client = scope.get("client")
    return AuditContext(
        request_id=str(request_id),
        client_address=client[0] if client else None,
        route=f"mcp {route}",
    )


def _fill(audit: AuditContext, principal: Principal) -> None:
    audit.tenant_id = principal.tenant_id
    audit.principal_kind = principal.kind.value
    audit.principal_id = principal.name
    audit.agent_name = principal.agent_name
    audit.purpose_of_use = principal.default_purpose


def _limit(runtime: Runtime, principal: Principal) -> None:
    limiter = runtime.rate_limiter
    if limiter is None:
        return
    decision = limiter.take(f"{principal.tenant_id}/{principal.name}")
    if not decision.allowed:
        raise TooManyRequests(
            f"Over the rate limit of this principal; retry in {decision.retry_after} s.",
            retry_after=decision.retry_after,
        )


async def _audit_unaudited(
    runtime: Runtime,
    audit: AuditContext,
    action: AuditAction,
    status: int,
    arguments: Mapping[str, Any],
) -> None:
    """The denied or failed row of a call that wrote none (as the REST middleware does),
    naming only identifiers that are valid as such."""
    if runtime.attempts is not None and runtime.attempts.absorb(
        audit, action=action, status=status
    ):
        return
    patient = arguments.get("patient_id")
    event_id = arguments.get("event_id")
    await record_attempt(
        runtime.pool,
        audit,
        action=action,
        status=status,
        patient_id=patient if isinstance(patient, str) and is_valid_patient_id(patient) else None,
        event_ids=[event_id] if isinstance(event_id, int) and 0 < event_id < 2**63 else None,
    )
