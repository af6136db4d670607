"""The route class every protected router uses: the caller is authenticated before the body
is looked at, then JSON bodies only (415 otherwise), parsed with orjson, and refused (400, as
malformed JSON) when an object repeats a key."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from carelog.api.deps import required_permissions, scope_checks
from carelog.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# Set (to the limit in bytes) by BodyLimitMiddleware on a request whose body is over the
# limit and that it left to the route to refuse; the app then sees an empty body.
BODY_OVER_LIMIT = "carelog.body_over_limit"


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        # (The key is not named: a problem never echoes what the client sent.)
        raise json.JSONDecodeError("an object repeats a key", "", 0)
    return found


def may_repeat_a_key(body: bytes, parsed: Any) -> bool:
    """Whether the JSON text ``body``, which orjson read as ``parsed``, may hold an object
    that repeats a key; False only when it certainly does not.

    Outside its strings, JSON has a colon only after each key it writes, so the body holds
    one colon per key written plus the colons inside its strings. orjson keeps one of each
    repeated key and drops the other pairs whole; writing ``parsed`` again with orjson (which
    escapes no colon) gives one colon per key kept plus those in the strings kept. A string
    without a ``\\u`` escape holds exactly the colons it is written with, so for a body with
    no ``\\u`` at all the two counts are equal exactly when no pair was dropped. A ``\\u``
    escape can spell a colon, or a key another way ("a" and "\\u0061" are one key), so such
    a body, and one nested too deep for orjson to write, may repeat a key.
    """
    if b"\\u" in body:
        return True
    try:
        written = orjson.dumps(parsed)
    except orjson.JSONEncodeError:
        return True
    return body.count(b":") != written.count(b":")


class OrjsonRequest(Request):
    """A request whose JSON body is parsed by orjson: faster, strict UTF-8, bounded nesting.
    orjson keeps the last of repeated keys silently; a body that may repeat one (see
    :func:`may_repeat_a_key`, ~1 us for an event) is read once more to refuse them (~12 us
    for an event, ~45 ms for a body near the 1 MiB limit)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            parsed = orjson.loads(body)
            if may_repeat_a_key(body, parsed):
                json.loads(body, object_pairs_hook=_unique_keys)
            self._json = parsed
        return self._json


class JsonRoute(APIRoute):
    """Authenticates first, then refuses what the body cannot be, before FastAPI reads it.

    FastAPI reads and parses the body before it solves any dependency, so a route's own
    ``ScopeCheck`` alone would answer malformed JSON with 400 before it asked who is calling,
    and the attempt would be audited under no tenant. Here the check runs first (it keeps the
    Caller in the scope for the dependency: one authentication, one rate-limit token), so
    on a protected route the order is 431 (middleware) → 401 → 429 → 403 → 413 → 415 → 400
    (malformed JSON) → 422 (validation) → 404 (the service), and every attempt by a known
    caller is audited under its tenant. (A bad ``X-Purpose-Of-Use`` is a 422 of the
    authentication step itself, and so is a query parameter the operation does not take:
    ignored, a misspelt ``patient_id`` would widen a search to the whole tenant.)
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None
        checks = scope_checks(self)
        known = frozenset(p.alias for p in self.dependant.query_params)

        async def json_route_handler(request: Request) -> Response:
            for check in checks:
                await check(request)
            if not known.issuperset(request.query_params.keys()):
                raise _unknown_parameters(known)
            limit = request.scope.get(BODY_OVER_LIMIT)
            if limit is not None:
                raise PayloadTooLarge(f"The request body is over {limit} bytes.")
            if takes_body and request.method in _BODY_METHODS:
                if not _is_json(request.headers.get("content-type", "")):
                    raise UnsupportedMediaType("Send the request body as application/json.")
                request = OrjsonRequest(request.scope, request.receive)
            return await handler(request)

        return json_route_handler


def _unknown_parameters(known: frozenset[str]) -> ValidationFailed:
    # The unknown names are not echoed (a problem never quotes the client); the known are.
    takes = ", ".join(sorted(known)) or "none"
    return ValidationFailed(
        "A query parameter is not one this operation takes.",
        errors=[
            {
                "field": "query",
                "location": "query",
                "message": f"unknown parameter; this operation takes: {takes}",
                "type": "extra_forbidden",
            }
        ],
    )


F = TypeVar("F", bound=Callable[..., Any])


def streamed(endpoint: F) -> F:
    """Mark a route that reads its body as a stream (``request.stream()``) and limits it
    itself: BodyLimitMiddleware neither buffers it nor applies the usual limit, only
    refuses a declared ``Content-Length`` over the route's own (``max_streamed_bytes``)."""
    endpoint.streams_body = True  # type: ignore[attr-defined]
    return endpoint


def streams_body(route: object) -> bool:
    """Whether ``route`` reads its body as a stream (see :func:`streamed`)."""
    return bool(getattr(getattr(route, "endpoint", None), "streams_body", False))


def refuses_bodies_itself(route: object) -> bool:
    """Whether ``route`` answers an over-limit body itself, after authenticating (see
    BodyLimitMiddleware): a protected JsonRoute."""
    return isinstance(route, JsonRoute) and bool(scope_checks(route))


def assert_protected(router: APIRouter) -> None:
    """Fail at start-up if any route of a protected router lacks a scope dependency, or is
    not a JsonRoute (it would read its body before authenticating)."""
    for route in router.routes:
        path = getattr(route, "path", route)
        if not isinstance(route, APIRoute) or not required_permissions(route):
            raise RuntimeError(f"route {path} has no scope dependency")
        if not isinstance(route, JsonRoute):
            raise RuntimeError(
                f"route {path} is not a JsonRoute: it would read before it authenticates"
            )
