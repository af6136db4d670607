"""The request body limit, as pure ASGI middleware: declared or streamed, answered 413 at
once for a public route and handed on marked (``routing.BODY_OVER_LIMIT``) to a protected
one, which refuses it after authenticating the caller."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carelog.api.middleware import matched_route, send_problem
from carelog.api.routing import BODY_OVER_LIMIT, refuses_bodies_itself, streams_body
from carelog.errors import PayloadTooLarge


class BodyLimitMiddleware:
    """Limits request bodies to ``max_bytes``, declared (``Content-Length``) or streamed.

    An over-limit body sent to a protected route is not answered here: the app gets an empty
    body and the mark ``BODY_OVER_LIMIT``, and the route refuses it with 413 after it has
    authenticated the caller (see ``JsonRoute``), so the attempt is audited under the caller's
    tenant and a caller with no valid key is told 401. A declared size over the limit is not
    read at all; a streamed body is read up to the limit and the rest is dropped unread. Any
    response to such a request closes the connection (the rest of the body is still on it).
    Unknown paths and public routes (any not among ``protected_routes``) are answered 413 at
    once. A path of ``path_limits`` (exact, no parameters: a bulk route) has its own limit.

    A protected route that streams its body (``routing.streamed``: ``POST /fhir/$import``)
    is not buffered: its body goes to it as it arrives, and it counts it against its own
    limit, ``max_streamed_bytes``; only a declared size over that is marked here, unread.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        protected_routes: Sequence[BaseRoute] = (),
        path_limits: Mapping[str, int] | None = None,
        max_streamed_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.protected_routes = protected_routes
        self.path_limits = dict(path_limits or {})
        self.streamed_routes = [route for route in protected_routes if streams_body(route)]
        self.max_streamed_bytes = max_streamed_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.path_limits.get(scope["path"], self.max_bytes)
        streamed = self.streamed_routes and matched_route(self.streamed_routes, scope)
        limit = self.max_streamed_bytes if streamed else max_bytes
        over = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    over = over or int(value) > limit
                except ValueError:
                    over = True
        if streamed and not over:
            await self.app(scope, receive, send)
            return
        if streamed:  # declared over the route's limit: refused by the route, unread
            scope[BODY_OVER_LIMIT] = limit
            await self.app(scope, _empty_then(receive), _closing(send))
            return
        # Read the body up front (it is at most max_bytes): a limit hit half-way through the
        # app's own read would surface as a parse error, not as 413.
        chunks: list[bytes] = []
        received = 0
        while not over:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            over = received > max_bytes
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if over:
            if not refuses_bodies_itself(matched_route(self.protected_routes, scope)):
                error = PayloadTooLarge(f"The request body is over {max_bytes} bytes.")
                await send_problem(_closing(send), error, scope.get("carelog.request_id"))
                return
            scope[BODY_OVER_LIMIT] = max_bytes
            chunks = []
            send = _closing(send)
        buffered: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return buffered
            return await receive()

        await self.app(scope, replay, send)


def _empty_then(receive: Receive) -> Receive:
    """An empty body, then ``receive`` (which the app calls only to hear a disconnect)."""
    given = False

    async def empty_then() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return empty_then


def _closing(send: Send) -> Send:
    """``send``, with ``Connection: close`` on the response."""

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
        await send(message)

    return send_closing
