"""Pure ASGI middleware: request ids, the PHI-free access log, cancelling the work of a
client that went away (the request body limit is ``body_limit``'s)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import traceback
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carelog.api.routing import BODY_OVER_LIMIT
from carelog.domain.audit import AuditContext
from carelog.domain.limits import is_valid_patient_id
from carelog.errors import CarelogError, HeadersTooLarge
from carelog.services.audit import record_attempt
from carelog.services.runtime import Runtime

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


# How long a request runs before a task starts watching for its client going away. Most
# requests end sooner and cost no task; a client gone before the watch starts is seen as it
# starts (a server tells a gone client at once), so abandoned work runs at most this much
# longer than it would with a watch from the first moment.
WATCH_AFTER = 0.05


async def run_until_disconnect(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> bool:
    """Run ``app`` on the request, and cancel it if the client disconnects before the
    response is complete; return whether it was cancelled so.

    Cancelling the task cancels the statement it awaits: psycopg sends PostgreSQL a cancel
    request when an async execute is cancelled, and the pooled connection is free at once
    instead of when the abandoned statement would have ended. The app runs in this task;
    while it reads the body its own receive sees a disconnect, and once the body is in, a
    watcher task started after :data:`WATCH_AFTER` waits for one.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    running = True  # inside app(): a cancel now reaches the app's work, nothing else
    completed = False  # the whole response is sent
    cancelled = False
    body_read = False
    watch_due = False
    watcher: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle  # set below, before the app runs

    def client_gone() -> None:
        nonlocal cancelled
        if running and not completed and not cancelled:
            cancelled = True
            task.cancel()

    def body_done() -> bool:
        # The app has the whole body, or all it will get of it (the rest of a body over the
        # limit, left unread by BodyLimitMiddleware, is not kept).
        return body_read or BODY_OVER_LIMIT in scope

    async def watch() -> None:
        # Nothing the app wants comes after the body but the client going away; a failing
        # receive means the same to the app.
        with contextlib.suppress(Exception):
            while (await receive())["type"] != "http.disconnect":
                pass
        client_gone()

    def start_watch() -> None:
        nonlocal watcher, watch_due, timer
        watch_due = True
        if watcher is not None or not running or BODY_OVER_LIMIT in scope:
            # (A body over the limit is not read, not even to drop it, nor invited with a
            # 100 Continue: what is left, authenticating and the 413, is bounded, and the
            # connection closes after it.)
            return
        if body_done():
            watcher = asyncio.ensure_future(watch())
        else:  # the app is still reading: it hears a disconnect itself; look again later
            timer = loop.call_later(WATCH_AFTER, start_watch)

    async def receive_tracked() -> Message:
        nonlocal body_read
        if body_done():  # the app waits for the client to go away: the watcher hears it
            start_watch()
            if watcher is None:  # a body over the limit: the app asks for it itself
                return await receive()
            await asyncio.wait((watcher,))
            return {"type": "http.disconnect"}
        try:
            message = await receive()
        except Exception:
            # The server's receive failed: to the app, the client is gone (it must not wait
            # for a body that will never come).
            message = {"type": "http.disconnect"}
        if message["type"] == "http.disconnect":
            client_gone()
            await asyncio.sleep(0)  # where the cancel reaches the app
        elif not message.get("more_body", False):
            body_read = True
            if watch_due:
                start_watch()
        return message

    async def send_tracked(message: Message) -> None:
        nonlocal completed
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            completed = True
        await send(message)

    def stop() -> bool:
        """End the watch; whether the app's work was cancelled by it."""
        nonlocal running
        running = False
        timer.cancel()
        if watcher is not None:
            watcher.cancel()
        return cancelled and task.uncancel() == 0

    timer = loop.call_later(WATCH_AFTER, start_watch)
    try:
        await app(scope, receive_tracked, send_tracked)
    except BaseException as exc:
        # A cancel of this task from outside (the server shuts down) goes on; the app has
        # unwound (and given back its pooled connection) on the way here.
        if stop() and isinstance(exc, asyncio.CancelledError):
            return True
        raise
    stop()
    return False


class RequestContextMiddleware:
    """Gives each request an id (``X-Request-ID``, echoed or made) and logs one line for it.

    The log line names the route *template* (``/patient-events/{patient_id}``), never the
    path, so no patient identifier reaches the log. A request whose client goes away is
    cancelled (see :func:`run_until_disconnect`) and logged with status 499. An unexpected
    exception becomes a bare 500 problem here, logged by type and stack frames only: its
    message could quote SQL or a client's values, and letting it escape would have the
    server log it in full.

    Headers over ``max_header_bytes`` are answered 431 before any of them is read for its
    meaning, credentials included: sent to one of ``audited_routes``, the attempt is audited
    as anonymous (no tenant, no principal) under that route.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: bool = True,
        max_header_bytes: int = 32 * 1024,
        audited_routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.max_header_bytes = max_header_bytes
        self.audited_routes = audited_routes

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
        headers_too_large = (
            sum(len(name) + len(value) for name, value in scope["headers"]) > self.max_header_bytes
        )
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
            if headers_too_large:
                route = matched_route(self.audited_routes, scope)
                if route is not None:
                    scope["route"] = route
                await send_problem(
                    send_with_id,
                    HeadersTooLarge("The request's headers are too large."),
                    request_id,
                )
            elif await run_until_disconnect(self.app, scope, receive, send_with_id):
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


def matched_route(routes: Sequence[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The one of ``routes`` that will serve this request, found before routing (only for
    the rare requests refused before it: headers or body too large)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


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
    # An unknown caller's repeats are counted, and written as one row (services/audit/attempts.py).
    runtime: Runtime = scope["app"].state.runtime
    attempts = runtime.attempts
    if attempts is not None and attempts.absorb(audit, action=action, status=status):
        return
    await record_attempt(
        runtime.pool,
        audit,
        action=action,
        status=status,
        # Only identifiers that passed validation: a rejected path may hold anything.
        patient_id=patient if isinstance(patient, str) and is_valid_patient_id(patient) else None,
        event_ids=[event_id] if event_id else None,
    )
