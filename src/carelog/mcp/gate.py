"""In front of the SDK's ``/mcp``: failed authentication treated as the REST API treats it
(``api/deps.py``, ``api/middleware.py``). An address over its limit of failures is answered
429 without a credential lookup (unless it sends a key this process has just seen valid),
each 401 charges the address, and each 401 or 429 leaves its audit row: anonymous, and
counted with the address's repeats (services/audit/attempts.py)."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carelog.domain.audit import AuditAction, AuditContext
from carelog.errors import TooManyRequests
from carelog.services.audit import record_attempt
from carelog.services.auth import keys as key_service
from carelog.services.runtime import Runtime

ROUTE = "mcp"


class Gate:
    """An ASGI wrapper of the SDK's MCP endpoint (its bearer check and its 401 inside)."""

    def __init__(self, app: ASGIApp, runtime: Callable[[], Runtime]) -> None:
        self._app = app
        self._runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        runtime = self._runtime()
        limiter = runtime.auth_failure_limiter
        client = scope.get("client")
        address = client[0] if client else "-"
        if limiter is not None:
            held = limiter.peek(address)
            if not held.allowed and not _known_key(scope, runtime):
                refused = TooManyRequests(
                    "Too many failed authentication attempts from this address; "
                    f"retry in {held.retry_after} s.",
                    retry_after=held.retry_after,
                )
                await _problem(send, refused)
                await _audit(runtime, scope, refused.status)
                return
        status = 0

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self._app(scope, receive, watched)
        if status == 401:
            if limiter is not None:
                limiter.take(address)
            await _audit(runtime, scope, status)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _known_key(scope: Scope, runtime: Runtime) -> bool:
    token = _bearer(scope)
    return token is not None and key_service.is_cached(token, runtime.principal_cache)


async def _problem(send: Send, error: TooManyRequests) -> None:
    body = orjson.dumps(error.to_problem())
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _audit(runtime: Runtime, scope: Scope, status: int) -> None:
    client = scope.get("client")
    audit: AuditContext = scope.get("carelog.audit") or AuditContext(
        request_id=str(scope.get("carelog.request_id", "-")),
        client_address=client[0] if client else None,
    )
    audit.route = ROUTE
    action = AuditAction.EXECUTE
    attempts = runtime.attempts
    if attempts is not None and attempts.absorb(audit, action=action, status=status):
        return
    await record_attempt(runtime.pool, audit, action=action, status=status)
