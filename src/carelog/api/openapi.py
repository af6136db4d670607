"""The OpenAPI document: the Problem schema, and every error response an operation can
answer, derived from the route's kind in one place rather than listed route by route.

What each kind can answer, and why:

- every route: 413 (BodyLimitMiddleware reads any request's body), 431 (the header limit of
  RequestContextMiddleware) and 500 (an unexpected error, as a bare problem);
- a protected route (one that demands a scope): 401, 403, 429 (the principal's rate limit,
  or the address's limit of failed authentication), 422 (the ``X-Purpose-Of-Use`` and
  ``X-Break-Glass-Reason`` headers every one reads, documented here as its parameters) and
  503 (the key is looked up in the database);
- a route with a JSON body (JsonRoute): 400 (not JSON, or an object repeats a key), 415 (not
  sent as JSON) and 422;
- a route that streams its body (``POST /fhir/$import``'s NDJSON): 415 (not sent as NDJSON);
  a line that is not JSON fails alone, in the answer;
- a route with parameters: 422.

What only some routes answer (404, 409, readyz's 503) each route declares itself with
:func:`carelog.api.problems.problem_responses`, and so the headers of its own 200 (``Link``,
``Carelog-Withheld-Count``, ``Idempotent-Replayed``). Every response carries ``X-Request-ID``,
and every response of a protected route the ``RateLimit-*`` headers once the caller is known
(with a rate limit configured).
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from carelog.api.deps import BREAK_GLASS_REASON_PATTERN, required_permissions
from carelog.api.problems import PROBLEM_JSON, Problem
from carelog.api.routing import streams_body, takes_body
from carelog.api.walk import api_routes
from carelog.domain.audit import PURPOSES_OF_USE
from carelog.domain.batch import BatchItem
from carelog.domain.limits import IDEMPOTENCY_KEY_PATTERN, JSON_VALUE_SCHEMA
from carelog.settings import Settings

_EVERY_ROUTE = frozenset({413, 431, 500})
_PROTECTED = frozenset({401, 403, 422, 429, 503})
_WITH_BODY = frozenset({400, 415, 422})

_SECONDS = {"type": "string", "pattern": r"^[0-9]+$"}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": _SECONDS,
    }
}

_REQUEST_ID = {
    "X-Request-ID": {
        "description": "The request's id, in the access log and the audit row: the client's "
        "own `X-Request-ID` when it is 1 to 128 of `A-Z a-z 0-9 . _ -`, else a new one.",
        "required": True,
        "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._\-]{1,128}$"},
    }
}
_RATE_LIMIT = {
    f"RateLimit-{name}": {
        "description": f"{meaning} (with a rate limit configured, once the caller is known).",
        "schema": _SECONDS,
    }
    for name, meaning in [
        ("Limit", "Requests of the bucket"),
        ("Remaining", "Requests left in it"),
        ("Reset", "Seconds until it is full again"),
    ]
}

# Headers every protected route reads (deps.authenticate_request), not FastAPI parameters.
# (X-Request-ID is not one: any value is taken or replaced, never refused; the response
# header says which.)
_PROTECTED_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "X-Purpose-Of-Use",
        "in": "header",
        "required": False,
        "description": "The HL7 v3 PurposeOfUse of this request, recorded in its audit row; "
        "default: the key's own.",
        "schema": {"type": "string", "enum": sorted(PURPOSES_OF_USE)},
    },
    {
        "name": "X-Break-Glass-Reason",
        "in": "header",
        "required": False,
        "description": "Break the glass (scope `break-glass`): every sensitivity label is "
        "visible to this request, which is flagged in the audit trail with this reason.",
        "schema": {"type": "string", "pattern": BREAK_GLASS_REASON_PATTERN},
    },
]

# What each status means here; the problem's ``code`` tells the cases apart.
_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("`bad-request`: the body is not JSON, or an object in it repeats a key.", {}),
    401: (
        "`unauthenticated`: no credentials, or a key or token that is unknown, revoked or expired.",
        {
            "WWW-Authenticate": {
                "description": "The Bearer challenge.",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    ),
    403: ("`forbidden`: the key's scopes do not grant this operation.", {}),
    404: ("`not-found`: nothing visible to this key at that address.", {}),
    409: (
        "`idempotency-key-reused` (the Idempotency-Key came before with another body), "
        "`event-superseded` (the event was already corrected or retracted; "
        "`current_version` names its newest version) or `conflict`.",
        {},
    ),
    413: ("`payload-too-large`: the request body is over the service's limit.", {}),
    415: ("`unsupported-media-type`: the body is not sent as `application/json`.", {}),
    422: ("`validation-failed`: `errors` names each failing field.", {}),
    429: (
        "`rate-limited`: over this principal's rate limit, or this address's limit of failed "
        "authentication; retry after `Retry-After` seconds.",
        _RETRY_AFTER,
    ),
    431: ("`headers-too-large`: the request's headers are over the service's limit.", {}),
    500: ("`internal-error`: an unexpected error (logged without its values).", {}),
    503: (
        "`service-busy` (every database connection in use, or a statement over its time "
        "limit) or `service-unavailable` (the database cannot be reached); retry after "
        "`Retry-After` seconds.",
        _RETRY_AFTER,
    ),
}


def error_statuses(route: APIRoute) -> frozenset[int]:
    """The error statuses ``route`` can answer by its kind (see the module's docstring)."""
    statuses = set(_EVERY_ROUTE)
    if required_permissions(route):
        statuses |= _PROTECTED
    if takes_body(route):
        statuses |= _WITH_BODY
    if streams_body(route):  # NDJSON read as it arrives: its type is checked, not its syntax
        statuses.add(415)
    dependant = route.dependant
    if dependant.path_params or dependant.query_params or dependant.header_params:
        statuses.add(422)
    return frozenset(statuses)


def _problem(status: int) -> dict[str, Any]:
    description, headers = _ERRORS.get(status, (HTTPStatus(status).phrase, {}))
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def _document_operations(schema: dict[str, Any], app: FastAPI) -> None:
    # Operations are matched by id: FastAPI names each after its route's unique_id.
    by_id = {route.unique_id: route for route in api_routes(app.routes)}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            route = by_id[operation["operationId"]]
            protected = bool(required_permissions(route))
            if protected:
                operation.setdefault("parameters", []).extend(_PROTECTED_PARAMETERS)
            for parameter in operation.get("parameters", []):
                _not_null(parameter)
            responses = operation.setdefault("responses", {})
            declared = {int(status) for status in responses if status.isdigit()}
            for status in sorted(error_statuses(route) | {s for s in declared if s >= 400}):
                # Replace what FastAPI writes (its own 422 schema, or a bare description),
                # keeping a media type a route declares besides (POST /fhir's 400 is an
                # OperationOutcome, application/fhir+json, too).
                own = responses.get(str(status), {})
                problem = _problem(status)
                other = {
                    k: v
                    for k, v in own.get("content", {}).items()
                    if k not in (PROBLEM_JSON, "application/json")
                }
                if other:
                    problem["content"] = {**other, **problem["content"]}
                    problem["description"] = f"{own['description']} Or {problem['description']}"
                responses[str(status)] = problem
            for response in responses.values():
                headers = response.setdefault("headers", {})
                headers.update(_REQUEST_ID)
                if protected:
                    headers.update(_RATE_LIMIT)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    # FastAPI's own validation error shapes: no response uses them (422 is a Problem).
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def _not_null(parameter: dict[str, Any]) -> None:
    # An optional header is absent or a string, never null: FastAPI writes `str | None` as
    # anyOf [string, null], which tells a client it may send the text "null".
    schema = parameter.get("schema", {})
    options = schema.get("anyOf")
    if parameter.get("in") != "header" or options is None:
        return
    kept = [option for option in options if option.get("type") != "null"]
    if len(kept) == 1:
        parameter["schema"] = {**{k: v for k, v in schema.items() if k != "anyOf"}, **kept[0]}


def _document_page_limits(schema: dict[str, Any], settings: Settings) -> None:
    # A `limit` without a maximum of its own is bounded by the service's settings
    # (CARELOG_DEFAULT_PAGE_SIZE, CARELOG_MAX_PAGE_SIZE), known only when the app is made.
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] != "limit" or parameter["in"] != "query":
                    continue
                for option in parameter["schema"].get("anyOf", [parameter["schema"]]):
                    if option.get("type") == "integer" and "maximum" not in option:
                        option["maximum"] = settings.max_page_size
                        parameter["description"] = (
                            f"Default {settings.default_page_size}, "
                            f"at most {settings.max_page_size}."
                        )
                        parameter["schema"]["description"] = parameter["description"]


def _batch_item(event: dict[str, Any]) -> dict[str, Any]:
    # The item of POST /patient-events/batch (which reads its body itself, so FastAPI does
    # not write it): the event of POST /patient-events and its own idempotency key.
    key = BatchItem.model_fields["idempotency_key"]
    return {
        **copy.deepcopy(event),
        "title": "BatchItem",
        "description": BatchItem.__doc__,
        "properties": {
            **copy.deepcopy(event["properties"]),
            "idempotency_key": {
                "anyOf": [{"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN}, {"type": "null"}],
                "title": "Idempotency Key",
                "description": key.description,
            },
        },
    }


def install_openapi(app: FastAPI) -> None:
    """Build the app's OpenAPI document with the Problem schema and every error response."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            _document_operations(schema, app)
            _document_page_limits(schema, app.state.settings)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            found = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(found.pop("$defs", {}))
            components["Problem"] = found
            components["JsonValue"] = JSON_VALUE_SCHEMA
            components["BatchItem"] = _batch_item(components["PatientEventCreate"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
