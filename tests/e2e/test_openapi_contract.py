"""The OpenAPI document says exactly what the service accepts and answers (issue 9, item 2):
every error status of each operation, the cursor's shape, the timestamps' range."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from carelog.api.openapi import error_statuses
from carelog.api.walk import api_routes
from carelog.storage.db import Pool
from tests.factories import bearer, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

PROBLEM = {"$ref": "#/components/schemas/Problem"}
FHIR_OUTCOMES = {
    ("/fhir", "POST", 400),
    ("/fhir/$import", "POST", 413),
    ("/fhir/$export-status/{job_id}", "GET", 500),
}


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _parameter(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    [found] = [p for p in document["paths"][path][method]["parameters"] if p["name"] == name]
    schema: dict[str, Any] = found["schema"]
    [option] = [o for o in schema.get("anyOf", [schema]) if o.get("type") != "null"]
    found_option: dict[str, Any] = option
    return found_option


async def test_every_operation_lists_every_error_of_its_kind(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    document = await _document(client)
    operations = {
        (path, method): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert len(operations) == 42 + 6  # + 6: webhook subscriptions
    post = document["paths"]["/patient-events"]["post"]["responses"]
    protected = {"401", "403", "413", "422", "429", "431", "500", "503"}
    assert protected | {"400", "415", "409"} <= post.keys()
    assert protected <= document["paths"]["/search"]["get"]["responses"].keys()
    assert "400" not in document["paths"]["/search"]["get"]["responses"]
    assert {"413", "431", "500"} <= document["paths"]["/healthz"]["get"]["responses"].keys()
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            responses = operations[(route.path_format, method.lower())]["responses"]
            for status in error_statuses(route):
                content = dict(responses[str(status)]["content"])
                if (route.path_format, method, status) in FHIR_OUTCOMES:
                    # A transaction refused for one of its entries, NDJSON cut at the
                    # limit, a failed export: an OperationOutcome.
                    assert content.pop("application/fhir+json") == {"schema": {"type": "object"}}
                assert content == {"application/problem+json": {"schema": PROBLEM}}, status
    assert post["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert post["429"]["headers"]["Retry-After"]["required"] is True
    assert post["503"]["headers"]["Retry-After"]["required"] is True
    assert "service-busy" in post["503"]["description"]
    assert "499" not in post
    # FastAPI's own validation error shape is not what a 422 carries.
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_an_undocumented_answer_is_not_given(client: httpx.AsyncClient, pool: Pool) -> None:
    """Malformed JSON is 400 on every operation with a body, and each says so."""
    document = await _document(client)
    headers = bearer(await make_token(pool, new_tenant(), "events:write", "admin"))
    headers["Content-Type"] = "application/json"
    for path, method in [
        ("/patient-events", "post"),
        ("/events/1/corrections", "post"),
        ("/events/1/retractions", "post"),
        ("/event-types/my_type", "put"),
        ("/event-type-policy", "put"),
        ("/fhir", "post"),
    ]:
        response = await client.request(method, path, content=b"{", headers=headers)
        assert response.status_code == 400, path
        template = path.replace("/1/", "/{event_id}/").replace("my_type", "{event_type}")
        assert "400" in document["paths"][template][method]["responses"], path


async def test_any_cursor_of_the_documented_shape_is_a_position(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    document = await _document(client)
    event_cursor = _parameter(document, "/patient-events/{patient_id}", "get", "cursor")
    assert event_cursor == _parameter(document, "/search", "get", "cursor")
    audit_cursor = _parameter(document, "/audit-events", "get", "cursor")
    headers = bearer(await make_token(pool, new_tenant(), "events:read", "audit:read"))
    patient = new_patient()
    for cursor in ["A" * 22, "_" * 21 + "w", "-" * 21 + "Q"]:
        assert re.match(event_cursor["pattern"], cursor)
        page = await client.get(f"/patient-events/{patient}?cursor={cursor}", headers=headers)
        assert page.status_code == 200, page.text
        found = await client.get(f"/search?q=x&cursor={cursor}", headers=headers)
        assert found.status_code == 200, found.text
    for cursor in ["A" * 24, "_" * 24]:
        assert re.match(audit_cursor["pattern"], cursor)
        page = await client.get(f"/audit-events?cursor={cursor}", headers=headers)
        assert page.status_code == 200, page.text
    for cursor in ["garbage", "A" * 21 + "B", "A" * 23]:
        assert not re.match(event_cursor["pattern"], cursor)
        page = await client.get(f"/patient-events/{patient}?cursor={cursor}", headers=headers)
        assert page.status_code == 422


@pytest.mark.parametrize(
    ("occurred_at", "accepted"),
    [
        ("2199-12-31T23:00:00-05:00", True),  # after 2200 in UTC: the year as written counts
        ("1800-01-01T00:30:00+01:00", True),
        ("1799-12-31T23:30:00-01:00", False),
        ("2200-01-01T00:00:00Z", False),
        ("2026-01-05t08:00:00.1234567z", True),
        ("2026-01-05 08:00:00Z", False),  # RFC 3339's date-time has a "T"
        ("2026-01-05T08:00Z", False),
        ("2026-01-05T08:00:00+24:00", False),
    ],
)
async def test_occurred_at_is_accepted_exactly_as_documented(
    client: httpx.AsyncClient, pool: Pool, occurred_at: str, accepted: bool
) -> None:
    document = await _document(client)
    field = document["components"]["schemas"]["PatientEventCreate"]["properties"]["occurred_at"]
    [text] = [o for o in field["anyOf"] if o.get("type") == "string"]
    assert text["format"] == "date-time"
    assert bool(re.match(text["pattern"], occurred_at)) is accepted
    body = {"patient_id": new_patient(), "event_type": "x", "payload": {}}
    headers = bearer(await make_token(pool, new_tenant()))
    response = await client.post(
        "/patient-events", json={**body, "occurred_at": occurred_at}, headers=headers
    )
    assert response.status_code == (200 if accepted else 422), response.text


async def test_query_times_the_page_limit_and_client_text_are_documented(
    client: httpx.AsyncClient,
) -> None:
    document = await _document(client)
    since = _parameter(document, "/patient-events/{patient_id}", "get", "since")
    assert since["format"] == "date-time"
    assert "pattern" in since
    limit = _parameter(document, "/patient-events/{patient_id}", "get", "limit")
    assert limit == {"type": "integer", "minimum": 1, "maximum": 500}
    principal = _parameter(document, "/audit-events", "get", "principal_id")
    assert principal["pattern"] == "^[^\\u0000]*$"
    assert principal["maxLength"] == 256
    reason = document["components"]["schemas"]["RetractionCreate"]["properties"]["reason"]
    assert (reason["minLength"], reason["maxLength"]) == (1, 500)
    assert reason["pattern"] == "^[^\\u0000]*$"
    payload = document["components"]["schemas"]["PatientEventCreate"]["properties"]["payload"]
    assert payload["additionalProperties"] == {"$ref": "#/components/schemas/JsonValue"}
    assert payload["propertyNames"]["pattern"] == "^[^\\u0000]*$"
    assert "JsonValue" in document["components"]["schemas"]


async def test_the_headers_read_and_sent_are_documented(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    document = await _document(client)
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                assert response["headers"]["X-Request-ID"]["required"] is True, (path, status)
            names = {p["name"] for p in operation.get("parameters", [])}
            if "security" in operation:
                assert {"X-Purpose-Of-Use", "X-Break-Glass-Reason"} <= names, (method, path)
    listing = document["paths"]["/patient-events/{patient_id}"]["get"]
    assert {"Link", "Carelog-Withheld-Count"} <= listing["responses"]["200"]["headers"].keys()
    purpose = _parameter(document, "/search", "get", "X-Purpose-Of-Use")
    assert "TREAT" in purpose["enum"]
    headers = bearer(await make_token(pool, new_tenant(), "events:read"))
    patient = new_patient()
    refused = await client.get(
        f"/patient-events/{patient}", headers={**headers, "X-Purpose-Of-Use": "CURIOSITY"}
    )
    assert refused.status_code == 422
    assert "CURIOSITY" not in purpose["enum"]
    answered = await client.get(
        f"/patient-events/{patient}", headers={**headers, "X-Purpose-Of-Use": "TREAT"}
    )
    assert answered.status_code in {200, 404}
    assert answered.headers["x-request-id"]


async def test_a_query_parameter_the_operation_does_not_take_is_refused(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    """Ignored, a misspelt `patient_id` would widen a search to the whole tenant."""
    headers = bearer(await make_token(pool, new_tenant(), "events:read", "audit:read"))
    response = await client.get("/search?q=fever&patientid=P-secret-1", headers=headers)
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["type"] == "extra_forbidden"
    assert "patient_id" in problem["errors"][0]["message"]
    assert "P-secret-1" not in response.text
    assert "patientid" not in response.text
    assert (await client.get("/audit-events?limit=1&sort=asc", headers=headers)).status_code == 422
    assert (await client.get("/search?q=fever&limit=5", headers=headers)).status_code == 200
