"""The route class every protected router uses: the caller is authenticated before the body
is looked at, then JSON bodies only (415 otherwise), parsed with orjson, and refused (400, as
malformed JSON) when an object repeats a key."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from carelog.api.deps import required_permissions, scope_checks
from carelog.domain.limits import loads_strict
from carelog.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# Set (to the limit in bytes) by BodyLimitMiddleware on a request whose body is over the
# limit and that it left to the route to refuse; the app then sees an empty body.
BODY_OVER_LIMIT = "carelog.body_over_limit"


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def raw_body_types(route: APIRoute) -> frozenset[str]:
    """The media types a route that reads its body itself (no body parameter: a bulk route,
    NDJSON too) declares in its ``openapi_extra`` request body; empty for any other."""
    if route.body_field is not None:
        return frozenset()
    body = (route.openapi_extra or {}).get("requestBody", {})
    return frozenset(str(media_type) for media_type in body.get("content", {}))


def takes_body(route: APIRoute) -> bool:
    """Whether ``route`` reads a request body (a model of it, or the raw body)."""
    return route.body_field is not None or bool(raw_body_types(route))


class OrjsonRequest(Request):
    """A request whose JSON body is parsed by orjson: faster, strict UTF-8, bounded nesting,
    and refused when an object repeats a key (``carelog.domain.limits.loads_strict``)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_strict(await self.body())
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
        parses_body = self.body_field is not None
        raw_types = raw_body_types(self)
        checks = scope_checks(self)
        known = _query_names(self)

        async def json_route_handler(request: Request) -> Response:
            for check in checks:
                await check(request)
            if not known.issuperset(request.query_params.keys()):
                raise _unknown_parameters(known)
            limit = request.scope.get(BODY_OVER_LIMIT)
            if limit is not None:
                raise PayloadTooLarge(f"The request body is over {limit} bytes.")
            if parses_body and request.method in _BODY_METHODS:
                if not _is_json(request.headers.get("content-type", "")):
                    raise UnsupportedMediaType("Send the request body as application/json.")
                request = OrjsonRequest(request.scope, request.receive)
            elif raw_types and _media_type(request) not in raw_types:
                names = " or ".join(sorted(raw_types))
                raise UnsupportedMediaType(f"Send the request body as {names}.")
            return await handler(request)

        return json_route_handler


def _query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters a route takes: its own, and the fields of a query model."""
    names: set[str] = set()
    for param in route.dependant.query_params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= {f.alias or name for name, f in annotation.model_fields.items()}
        else:
            names.add(param.alias)
    return frozenset(names)


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
