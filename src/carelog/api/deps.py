"""Dependencies: the authenticated caller, scope checks as typed aliases, the pool.

All are ``async def``: FastAPI runs a plain ``def`` dependency in a thread pool, a thread
hand-off per request for what is an attribute read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase

from carelog.domain.access import Access, Channel
from carelog.domain.audit import PURPOSES_OF_USE, AuditAction, AuditContext
from carelog.domain.principals import Principal
from carelog.domain.scopes import Permission
from carelog.errors import Forbidden, TooManyRequests, Unauthenticated, ValidationFailed
from carelog.services.auth import keys as key_service
from carelog.services.auth.bearer import authenticate_bearer
from carelog.services.runtime import Runtime
from carelog.services.unit import Work, unit_of_work
from carelog.settings import Settings
from carelog.storage.db import Pool

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="carelog"'}

# The security scheme's name in the OpenAPI document.
BEARER_SCHEME = "bearer"
BEARER_DESCRIPTION = (
    "A Carelog API key (`clk_...`, from the first start or `carelog keys create`) or, when "
    "the service is configured for one, an access token (JWT) from your OpenID Connect "
    "issuer. Each operation lists the permission it needs (`events:read`, `events:write`, "
    "`audit:read` or `admin`); `admin` grants them all, and SMART on FHIR scopes such as "
    "`patient/*.rs` grant `events:read` and `events:write`."
)


def runtime(request: Request) -> Runtime:
    """The running service's parts (services/runtime), made by the app's lifespan."""
    found: Runtime = request.app.state.runtime
    return found


async def get_pool(request: Request) -> Pool:
    """The app's connection pool, opened by the lifespan."""
    return runtime(request).pool


DbPool = Annotated[Pool, Depends(get_pool)]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: its :class:`Access` (who, for which tenant, what they may
    see, the audit row being built) and what the app serves it with."""

    access: Access
    pool: Pool
    settings: Settings
    clock: Callable[[], datetime]

    def now(self) -> datetime:
        """The time of the request, by the runtime's clock (tests control it)."""
        return self.clock()

    def work(self) -> AbstractAsyncContextManager[Work]:
        """The request's unit of work (services/unit.py), for the route to hand to its use
        case: ``async with caller.work() as work``."""
        return unit_of_work(self.pool, self.access)


def _audit_context(request: Request) -> AuditContext:
    audit: AuditContext | None = request.scope.get("carelog.audit")
    if audit is None:  # the app is mounted without RequestContextMiddleware
        client = request.client
        audit = AuditContext(request_id="-", client_address=client.host if client else None)
        request.scope["carelog.audit"] = audit
    route = request.scope.get("route")
    audit.route = getattr(route, "path", None)
    return audit


# X-Break-Glass-Reason: 3 to 500 printable ASCII characters (the OpenAPI document says so).
BREAK_GLASS_REASON_PATTERN = r"^[\x20-\x7e]{3,500}$"
_REASON = re.compile(BREAK_GLASS_REASON_PATTERN)


def _break_glass(request: Request, principal: Principal, audit: AuditContext) -> None:
    """Honour ``X-Break-Glass-Reason``: all sensitive data for this request, flagged."""
    reason = request.headers.get("x-break-glass-reason")
    if reason is None:
        return
    if not principal.has(Permission.BREAK_GLASS):
        raise Forbidden("This principal may not break the glass.")
    if not _REASON.match(reason):
        raise ValidationFailed(
            "X-Break-Glass-Reason must be 3 to 500 printable characters.",
            errors=[
                {
                    "field": "X-Break-Glass-Reason",
                    "location": "header",
                    "message": "3 to 500 printable ASCII characters",
                    "type": "value_error",
                }
            ],
        )
    audit.break_glass = True
    audit.break_glass_reason = reason


def _purpose(request: Request, principal: Principal) -> str:
    stated = request.headers.get("x-purpose-of-use")
    if stated is None:
        return principal.default_purpose
    if stated not in PURPOSES_OF_USE:
        raise ValidationFailed(
            "X-Purpose-Of-Use is not an HL7 PurposeOfUse code this service knows.",
            errors=[
                {
                    "field": "X-Purpose-Of-Use",
                    "location": "header",
                    "message": "expected an HL7 v3 PurposeOfUse code such as TREAT or HPAYMT",
                    "type": "value_error",
                }
            ],
        )
    return stated


def _bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 without one."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated(
            "Send an API key as 'Authorization: Bearer <key>'.", headers=_CHALLENGE
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use the Bearer scheme.", headers=_CHALLENGE)
    return token.strip()


async def authenticate_request(request: Request) -> Caller:
    """The caller, from ``Authorization: Bearer <API key or JWT>``; 401 without a valid one,
    429 while the client's address is over its limit of failed attempts."""
    limiter = runtime(request).auth_failure_limiter
    if limiter is None:
        return await _authenticate(request)
    address = _audit_context(request).client_address or "-"
    held = limiter.peek(address)
    if not held.allowed and not _known_key(request):
        request.scope["carelog.rate_limit"] = held
        raise TooManyRequests(
            "Too many failed authentication attempts from this address; "
            f"retry in {held.retry_after} s.",
            retry_after=held.retry_after,
        )
    try:
        return await _authenticate(request)
    except Unauthenticated:
        # Only failures are charged: valid callers from the same address never drain it.
        request.scope["carelog.rate_limit"] = limiter.take(address)
        raise


def _known_key(request: Request) -> bool:
    # A key this process found valid a moment ago passes an over-limit address (no lookup).
    try:
        token = _bearer_token(request)
    except Unauthenticated:
        return False
    return key_service.is_cached(token, runtime(request).principal_cache)


async def _authenticate(request: Request) -> Caller:
    token = _bearer_token(request)
    state = runtime(request)
    audit = _audit_context(request)
    try:
        principal = await authenticate_bearer(state, token)
    except Unauthenticated as exc:
        exc.headers.update(_CHALLENGE)
        raise
    audit.tenant_id = principal.tenant_id
    audit.principal_kind = principal.kind.value
    audit.principal_id = principal.name
    audit.agent_name = principal.agent_name
    audit.purpose_of_use = _purpose(request, principal)
    _break_glass(request, principal, audit)
    return Caller(Access(principal, audit, Channel.REST), state.pool, state.settings, state.clock)


def _limit(request: Request, principal: Principal) -> None:
    limiter = runtime(request).rate_limiter
    if limiter is None:
        return
    decision = limiter.take(f"{principal.tenant_id}/{principal.name}")
    # RateLimit-* headers go on the response, whatever it is (see RequestContextMiddleware).
    request.scope["carelog.rate_limit"] = decision
    if not decision.allowed:
        raise TooManyRequests(
            f"Over the rate limit of this principal; retry in {decision.retry_after} s.",
            retry_after=decision.retry_after,
        )


# The scope key under which the request's authenticated (and rate-limited) Caller is kept.
CALLER_KEY = "carelog.caller"


class ScopeCheck(SecurityBase):
    """A dependency that authenticates the request and checks that it holds a permission.

    One dependency node that takes only the request: FastAPI's per-request cost grows with
    every node and parameter it resolves, and this sits on every protected route. Being a
    ``SecurityBase``, FastAPI lists it in OpenAPI as the bearer scheme, with the scopes of
    the ``Security`` marker that uses it (see :func:`require`).

    The route (``JsonRoute``) calls it before the body is read; the Caller is kept in the
    request's scope, so that when FastAPI solves the dependency it neither authenticates
    again nor takes a second rate-limit token.
    """

    def __init__(self, permission: Permission) -> None:
        self.required_permission = permission
        self.model = HTTPBearerModel(description=BEARER_DESCRIPTION)
        self.scheme_name = BEARER_SCHEME

    async def __call__(self, request: Request) -> Caller:
        caller: Caller | None = request.scope.get(CALLER_KEY)
        if caller is None:
            caller = await authenticate_request(request)
            _limit(request, caller.access.principal)
            request.scope[CALLER_KEY] = caller
        if not caller.access.principal.has(self.required_permission):
            raise Forbidden(f"This key's scopes do not grant '{self.required_permission.value}'.")
        return caller


def require(permission: Permission) -> Any:
    """The ``Security`` marker of a route that needs ``permission``: it authenticates the
    request, checks the permission, and states both in the route's OpenAPI ``security``."""
    return Security(ScopeCheck(permission), scopes=[permission.value])


def scope_checks(route: APIRoute) -> list[ScopeCheck]:
    """The scope checks among a route's dependencies (none: the route is public)."""
    found: list[ScopeCheck] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, ScopeCheck):
            found.append(dependant.call)
        stack.extend(dependant.dependencies)
    return found


def required_permissions(route: APIRoute) -> set[Permission]:
    """The permissions a route's dependencies demand (empty: the route is public)."""
    return {check.required_permission for check in scope_checks(route)}


EventsRead = Annotated[Caller, require(Permission.EVENTS_READ)]
EventsWrite = Annotated[Caller, require(Permission.EVENTS_WRITE)]
AuditRead = Annotated[Caller, require(Permission.AUDIT_READ)]
WorkflowsRead = Annotated[Caller, require(Permission.WORKFLOWS_READ)]
WorkflowsWrite = Annotated[Caller, require(Permission.WORKFLOWS_WRITE)]
Admin = Annotated[Caller, require(Permission.ADMIN)]


F = TypeVar("F", bound=Callable[..., Any])


def audited(action: AuditAction) -> Callable[[F], F]:
    """Mark a route's audit action; requests that end without an audit row of their own
    (denied, failed) are then audited by the request middleware under this action."""

    def mark(endpoint: F) -> F:
        endpoint.audit_action = action  # type: ignore[attr-defined]
        return endpoint

    return mark
