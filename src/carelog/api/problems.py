"""One place that renders every error as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from carelog.errors import BadRequest, CarelogError, ValidationFailed

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One failing field of a 422."""

    field: str
    location: str | None = None
    message: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response carries them."""

    type: str = Field(examples=["urn:carelog:problem:not-found"])
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable error code.")
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses (problem+json)."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


_STATUS_CODES = {
    400: BadRequest,
    404: type(
        "RouteNotFound", (CarelogError,), {"status": 404, "code": "not-found", "title": "Not found"}
    ),
    405: type(
        "MethodNotAllowed",
        (CarelogError,),
        {"status": 405, "code": "method-not-allowed", "title": "Method not allowed"},
    ),
}


def problem_response(error: CarelogError, request: Request) -> Response:
    """The response for ``error``, with its headers and the request id."""
    # The instance names the request, never its path: a path can hold a patient identifier.
    request_id = request.scope.get("carelog.request_id")
    body = error.to_problem(instance=f"urn:carelog:request:{request_id}" if request_id else None)
    if request_id:
        body["request_id"] = request_id
    return Response(
        orjson.dumps(body),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=error.headers,
    )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def validation_problem(errors: list[dict[str, Any]] | Any) -> CarelogError:
    """A 422 naming each failing field, or a 400 for a body that is not JSON at all.

    The client's input values are never echoed back: they may hold patient data.
    """
    cleaned: list[dict[str, Any]] = []
    for err in errors:
        if err.get("type") == "json_invalid":
            return BadRequest("The request body is not valid JSON.")
        loc = list(err.get("loc", ()))
        cleaned.append(
            {
                "field": _field(loc),
                "location": loc[0] if loc else None,
                "message": str(err.get("msg", "invalid")),
                "type": str(err.get("type", "invalid")),
            }
        )
    names = ", ".join(e["field"] for e in cleaned)
    return ValidationFailed(f"Invalid value for: {names}.", errors=cleaned)


async def _carelog_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CarelogError)
    return problem_response(exc, request)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return problem_response(validation_problem(exc.errors()), request)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error_class = _STATUS_CODES.get(exc.status_code)
    if error_class is None:
        error = CarelogError()
        error.status = exc.status_code
        error.code = f"http-{exc.status_code}"
        error.title = "HTTP error"
    else:
        error = error_class()
    error.headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of the first route on the path only; a path with
        # several (the export's status URL: GET and DELETE) is told all of them.
        error.headers["Allow"] = _allowed(request.app.routes, request.scope["path"])
    return problem_response(error, request)


def _allowed(routes: Any, path: str) -> str:
    methods: set[str] = set()
    stack = list(routes)
    while stack:
        route = stack.pop()
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner is not None:
            stack.extend(inner)
            continue
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path) and getattr(route, "methods", None):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


def install_problem_handlers(app: FastAPI) -> None:
    """Route Carelog's, validation and routing errors through problem details.

    Anything else is caught by ``RequestContextMiddleware`` (see there why).
    """
    app.add_exception_handler(CarelogError, _carelog_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
