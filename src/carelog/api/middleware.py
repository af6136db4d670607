"""Pure ASGI middleware: request ids, the PHI-free access log, cancelling the work of a
client that went away, and the request body limit."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import traceback
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carelog.domain.audit import AuditContext
from carelog.domain.limits import is_valid_patient_id
from carelog.errors import CarelogError, HeadersTooLarge, PayloadTooLarge
from carelog.services.audit import record_attempt

_access = logging.getLogger("carelog.access")
_errors = logging.getLogger("carelog.api")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


async def send_problem(send: Send, error: CarelogError, request_id: str | None) -> None:
    """Send ``error`` as a whole problem-details response from ASGI middleware."""
    body: dict[str, Any] = error.to_problem()
    if request_id:
        body["instance"] = f"urn:carelog:request:{request_id}"
        body["request_id"] = request_id
    headers = [(b"content-type", b"application/problem+json")]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps(body)})


# The status logged and audited for a request whose client went away before the answer
# (nginx's "client closed request"); no response is sent.
CLIENT_CLOSED = 499


async def run_until_disconnect(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> bool:
    """Run ``app`` on the request, and cancel it if the client disconnects before the
    response is complete; return whether it was cancelled so.

    Cancelling the task cancels the statement it awaits: psycopg sends PostgreSQL a cancel
    request when an async execute is cancelled, and the pooled connection is free at once
    instead of when the abandoned statement would have ended.
    """
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    completed = False

    async def send_tracked(message: Message) -> None:
        nonlocal completed
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            completed = True
        await send(message)

    handler = asyncio.ensure_future(app(scope, inbox.get, send_tracked))

    async def watch() -> None:
        # Everything the server receives goes on to the app, which may still be reading it.
        try:
            while True:
                message = await receive()
                inbox.put_nowait(message)
                if message["type"] == "http.disconnect":
                    if not completed:
                        handler.cancel()
                    return
        except Exception:
            # The server's receive failed: to the app, the client is gone (it must not wait
            # for a body that will never come).
            inbox.put_nowait({"type": "http.disconnect"})
            if not completed:
                handler.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        await asyncio.wait((handler,))
    finally:
        watcher.cancel()
        if not handler.done():  # this task itself was cancelled (the server shuts down)
            handler.cancel()
            # Let it unwind (and give back its pooled connection) before this one goes on.
            await asyncio.wait((handler,))
    if handler.cancelled():
        return True
    handler.result()  # the app's exception, if any
    return False


class RequestContextMiddleware:
    """Gives each request an id (``X-Request-ID``, echoed or made) and logs one line for it.

    The log line names the route *template* (``/patient-events/{patient_id}``), never the
    path, so no patient identifier reaches the log. A request whose client goes away is
    cancelled (see :func:`run_until_disconnect`) and logged with status 499. An unexpected
    exception becomes a bare 500 problem here, logged by type and stack frames only: its
    message could quote SQL or a client's values, and letting it escape would have the
    server log it in full.
    """

    def __init__(
        self, app: ASGIApp, *, access_log: bool = True, max_header_bytes: int = 32 * 1024
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _REQUEST_ID.match(candidate):
                    request_id = candidate
                break
        if not request_id:
            request_id = uuid.uuid4().hex
        scope["carelog.request_id"] = request_id
        if sum(len(name) + len(value) for name, value in scope["headers"]) > self.max_header_bytes:
            await send_problem(
                send, HeadersTooLarge("The request's headers are too large."), request_id
            )
            return
        client = scope.get("client")
        audit = AuditContext(request_id=request_id, client_address=client[0] if client else None)
        scope["carelog.audit"] = audit
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                limit = scope.get("carelog.rate_limit")
                if limit is not None:
                    headers += [
                        (b"ratelimit-limit", b"%d" % limit.limit),
                        (b"ratelimit-remaining", b"%d" % limit.remaining),
                        (b"ratelimit-reset", b"%d" % limit.reset_seconds),
                    ]
                message["headers"] = headers
            await send(message)

        try:
            if await run_until_disconnect(self.app, scope, receive, send_with_id):
                status = CLIENT_CLOSED
        except Exception as exc:
            route = scope.get("route")
            _errors.error(
                "unhandled %s on %s %s rid=%s\n%s",
                type(exc).__name__,
                scope["method"],
                getattr(route, "path", "-"),
                request_id,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            if not response_started:
                await send_problem(
                    send_with_id, CarelogError("An unexpected error occurred."), request_id
                )
        finally:
            await _audit_unaudited(scope, audit, status)
            if self.access_log:
                route = scope.get("route")
                _access.info(
                    "%s %s %d %.1fms rid=%s",
                    scope["method"],
                    getattr(route, "path", "-"),
                    status,
                    (time.perf_counter() - started) * 1000,
                    request_id,
                )


async def _audit_unaudited(scope: Scope, audit: AuditContext, status: int) -> None:
    """Write the audit row of an audited route's request that ended without one: denied
    (401, 403) or failed (validation, conflict, errors). Runs after the response is sent."""
    route = scope.get("route")
    action = getattr(getattr(route, "endpoint", None), "audit_action", None)
    if action is None or audit.written:
        return
    audit.route = getattr(route, "path", None)
    params = scope.get("path_params", {})
    patient = params.get("patient_id")
    raw_id = str(params.get("event_id", ""))
    event_id = int(raw_id) if raw_id.isdigit() and len(raw_id) <= 18 else None
    await record_attempt(
        scope["app"].state.pool,
        audit,
        action=action,
        status=status,
        # Only identifiers that passed validation: a rejected path may hold anything.
        patient_id=patient if isinstance(patient, str) and is_valid_patient_id(patient) else None,
        event_ids=[event_id] if event_id else None,
    )


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with a 413 problem, declared or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, scope: Scope, send: Send) -> None:
        error = PayloadTooLarge(
            f"The request body is over {self.max_bytes} bytes.", headers={"Connection": "close"}
        )
        await send_problem(send, error, scope.get("carelog.request_id"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await self._reject(scope, send)
                    return
        # Read the body up front (it is at most max_bytes): a limit hit half-way through the
        # app's own read would surface as a parse error, not as 413.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._reject(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        buffered: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return buffered
            return await receive()

        await self.app(scope, replay, send)
