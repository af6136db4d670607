"""Schemathesis against the running service: every operation, every check, a fixed seed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from starlette.types import ASGIApp, Receive, Scope, Send

from carelog.api.app import create_app
from carelog.settings import Settings
from carelog.storage.db import Pool
from tests.e2e.live_server import serve
from tests.factories import make_token, new_tenant

pytestmark = [
    pytest.mark.e2e,
    # Schemathesis's own negative strategies draw from `random`; Hypothesis deprecates that,
    # and the suite turns warnings into errors. Nothing of the service's.
    pytest.mark.filterwarnings(
        "ignore:Do not use the `random` module inside strategies"
        ":hypothesis.errors.HypothesisDeprecationWarning"
    ),
]

Case = schemathesis.Case[Any]

MAX_EXAMPLES = 50
SEED = 20261202


class _Counting:
    """The app, counting the HTTP requests it is sent (the run's figure, printed at the end)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def service(settings: Settings) -> Iterator[str]:
    """The service on a port of its own, in a thread with its own event loop (schemathesis
    sends its requests synchronously): the rate limits off (per principal, and per address for
    failed authentication: every request comes from 127.0.0.1, many without a valid key), so
    that every case reaches a route."""
    off = {"rate_limit_per_second": 0, "auth_failure_rate_per_second": 0, "access_log": False}
    app = _Counting(create_app(settings.model_copy(update=off)))
    started = time.monotonic()
    with serve(app) as url:
        yield url
    print(f"\nschemathesis: {app.requests} requests in {time.monotonic() - started:.1f} s")


@pytest.fixture(scope="module")
async def tenant_keys(pool: Pool) -> dict[str, str]:
    # A tenant each: what the all-scope run registers (types, the policy) is its own.
    every = ("events:read", "events:write", "audit:read", "admin")
    return {
        "all": await make_token(pool, new_tenant(), *every),
        "read": await make_token(pool, new_tenant(), "events:read"),
    }


def _document() -> dict[str, object]:
    # The document as the app generates it: building the app opens no connection.
    settings = Settings(database_url="postgresql://localhost/unused")
    return create_app(settings).openapi()


SCHEMA = schemathesis.openapi.from_dict(
    _document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # The same cases every run, and no example database: nothing carried over
            # from an earlier run (or left in the work tree).
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
        }
    ),
).exclude(
    # A 200 of GET /patient-events/stream is a stream that never ends (Server-Sent Events):
    # a generated call would wait for its end. Its refusals are generated elsewhere
    # (test_authz_matrix, test_client_text_sweep), its answers tested in test_feed.
    method="GET",
    path="/patient-events/stream",
)


@schemathesis.serializer("application/fhir+ndjson", "application/x-ndjson", "application/ndjson")
def _ndjson(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """NDJSON bodies: generated text as it is (POST /fhir/$import, a resource a line), or a
    list of items one a line (POST /patient-events/batch: the schema describes a line)."""
    if isinstance(value, str):
        return value.encode()
    items = value if isinstance(value, list) else [value]
    return b"\n".join(json.dumps(item).encode() for item in items)


def _schema_refused(response: schemathesis.Response) -> bool:
    """A 422 that names only the registered JSON Schema itself."""
    if response.status_code != 422:
        return False
    return {e["field"].split(".")[0] for e in response.json()["errors"]} == {"schema"}


def _only_errors_of(response: schemathesis.Response, *types: str) -> bool:
    """A 422 whose every error is of one of ``types``."""
    if response.status_code != 422:
        return False
    errors = response.json().get("errors") or []
    return bool(errors) and all(e["type"] in types for e in errors)


def _unstateable(case: Case, response: schemathesis.Response) -> list[CheckFunction]:
    """The checks to skip for this case: only where the service's rule cannot be written in
    OpenAPI 3.1, and the description says it instead."""
    query = case.query or {}
    # GET /search needs q or code (or both): parameters are independent in OpenAPI.
    if case.operation.label == "GET /search" and not {"q", "code"} & query.keys():
        return [positive_data_acceptance]
    # PUT /event-types/{event_type}: the body's `schema` must be a Draft 2020-12 schema that
    # passes the registration checks (meta-schema, local references only, size, depth, safe
    # patterns); only the meta-schema could be referenced, and it would be fetched.
    if case.operation.label == "PUT /event-types/{event_type}" and _schema_refused(response):
        return [positive_data_acceptance]
    # A workflow's links must be events of the case's patient that the caller may see: the
    # schema can say they are ids, not which ones exist.
    if _only_errors_of(response, "unknown_event"):
        return [positive_data_acceptance]
    # Prior authorization's rules across fields and past their shapes, which the
    # descriptions say: an NPI's check digit, dates in order (service_to after
    # service_from, valid_until after valid_from, since before until), one row a service
    # code (and a requirement id) in a payer's rules, a payer the table has or a name.
    if _only_errors_of(
        response, "npi_check_digit", "date_order", "range_order", "repeated_key", "unknown_payer"
    ):
        return [positive_data_acceptance]
    # A payer's rules are one document of up to 2,000 service codes: JSON Schema bounds
    # each part, not the bytes of the whole, which the description bounds (1 MiB, 413).
    if case.operation.label == "PUT /payers/{payer_id}" and response.status_code == 413:
        return [positive_data_acceptance]
    # A batch may not use one Idempotency-Key for two of its items: JSON Schema's
    # uniqueItems cannot name one member of the items.
    if case.operation.label == "POST /patient-events/batch" and _only_errors_of(
        response, "idempotency_key_repeated"
    ):
        return [positive_data_acceptance]
    # POST /fhir: each entry's resource must be FHIR R4 that Carelog's mapping reads (and a
    # transaction's entries all of them), which a schema of the Bundle cannot say; a
    # transaction with one that is not is refused with an OperationOutcome (400).
    if (
        case.operation.label == "POST /fhir"
        and response.status_code == 400
        and response.headers.get("content-type", [""])[0] == "application/fhir+json"
    ):
        return [positive_data_acceptance]
    # POST /subscriptions: the URL's host must be, and resolve only to, public addresses
    # (SSRF), which the description says; a schema can state only the URL's shape.
    if _only_errors_of(response, "webhook-target-refused"):
        return [positive_data_acceptance]
    # POST /fhir/$import: any text is NDJSON to read, each line refused or stored on its own
    # (a line that is not a resource fails in the 200 answer): no body is refused as such.
    if case.operation.label == "POST /fhir/$import":
        return [negative_data_rejection]
    return []


@SCHEMA.parametrize()
@pytest.mark.parametrize("key", ["all", "read"])
def test_schemathesis(case: Case, key: str, service: str, tenant_keys: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {tenant_keys[key]}"}
    response = case.call(base_url=service, headers=headers)
    case.validate_response(
        response,
        headers=headers,
        excluded_checks=_unstateable(case, response),
        transport_kwargs={"base_url": service, "headers": headers},
    )
