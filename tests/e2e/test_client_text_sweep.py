"""The sweep of issue 9, item 1: every input of every operation, not only the ones the issue
named. The operations and their inputs are read from the OpenAPI document, so a new route or
a new field is swept too (and a new route fails here until it has a valid example below).

Each input in turn is given a NUL character (the one character PostgreSQL's text cannot
hold): the answer is a 4xx problem with a machine-readable code, never a 5xx, and nothing
is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from carelog.storage.db import Pool
from tests.factories import bearer, count_events, make_token, new_patient, new_tenant, record

pytestmark = pytest.mark.e2e

NUL = "bad\x00text"
# Headers every protected operation reads besides its own parameters.
COMMON_HEADERS = ("X-Purpose-Of-Use", "X-Break-Glass-Reason")


@dataclass(frozen=True)
class Example:
    """A valid request of one operation: its path values, query, headers and body."""

    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | list[dict[str, Any]] | None = None


PRIOR_AUTH = {
    "payer": {"id": "sweep-payer", "name": "Sweep Health Plan"},
    "lines": [{"code": "70551", "description": "MRI", "quantity": 1,
               "service_from": "2026-03-10", "service_to": "2026-03-11"}],
    "diagnosis_codes": ["G43.909"],
    "ordering_provider": {"npi": "1234567893", "name": "Dr. Synthetic"},
    "channel": "portal",
}  # fmt: skip


def _examples(
    patient: str, event_id: int, case_id: str, task_id: str, auth_id: str
) -> dict[tuple[str, str], Example]:
    payload = {"text": "synthetic note"}
    return {
        ("GET", "/healthz"): Example(),
        ("GET", "/readyz"): Example(),
        ("POST", "/patient-events"): Example(
            headers={"Idempotency-Key": "sweep-1"},
            body={
                "patient_id": patient,
                "event_type": "triage_note",
                "payload": payload,
                "occurred_at": "2026-01-05T08:00:00Z",
                "source": "sweep",
                "labels": ["BH"],
            },
        ),
        ("GET", "/patient-events/{patient_id}"): Example(
            path={"patient_id": patient}, query={"event_type": "triage_note"}
        ),
        ("GET", "/patient-events/stream"): Example(
            query={"patient_id": patient, "event_type": "triage_note"},
            headers={"Last-Event-ID": "1-1"},
        ),
        ("GET", "/events/{event_id}"): Example(path={"event_id": str(event_id)}),
        ("POST", "/events/{event_id}/corrections"): Example(
            path={"event_id": str(event_id)}, body={"payload": payload, "reason": "typo"}
        ),
        ("POST", "/events/{event_id}/retractions"): Example(
            path={"event_id": str(event_id)}, body={"reason": "wrong patient"}
        ),
        ("GET", "/audit-events"): Example(query={"patient_id": patient}),
        ("GET", "/audit-events/verify"): Example(),
        ("GET", "/event-types"): Example(),
        ("PUT", "/event-types/{event_type}"): Example(
            path={"event_type": "sweep_note"},
            body={"schema": {"type": "object"}, "description": "synthetic"},
        ),
        ("PUT", "/event-type-policy"): Example(body={"reject_unregistered": False}),
        ("GET", "/patients/{patient_id}/context"): Example(path={"patient_id": patient}),
        ("GET", "/patients/{patient_id}/fhir"): Example(path={"patient_id": patient}),
        ("POST", "/fhir"): Example(
            body={"resourceType": "Bundle", "type": "batch", "entry": []},
        ),
        ("POST", "/fhir/$import"): Example(headers={"Content-Type": "application/fhir+ndjson"}),
        ("GET", "/fhir/$export"): Example(headers={"Prefer": "respond-async"}),
        ("GET", "/fhir/Patient/$export"): Example(
            headers={"Prefer": "respond-async"}, query={"_type": "Patient"}
        ),
        ("GET", "/fhir/$export-status/{job_id}"): Example(path={"job_id": "0" * 32}),
        ("DELETE", "/fhir/$export-status/{job_id}"): Example(path={"job_id": "0" * 32}),
        ("GET", "/fhir/$export-files/{job_id}/{resource_type}/{part}"): Example(
            path={"job_id": "0" * 32, "resource_type": "Patient", "part": "1"}
        ),
        ("GET", "/search"): Example(query={"q": "synthetic"}),
        ("GET", "/escalations/targets"): Example(),
        ("PUT", "/escalations/targets"): Example(body={"urgent": 3600}),
        ("POST", "/escalations"): Example(
            headers={"Idempotency-Key": "sweep-2"},
            body={
                "patient_id": patient,
                "severity": "urgent",
                "reason": "synthetic",
                "link_events": [event_id],
                "labels": ["BH"],
            },
        ),
        ("GET", "/escalations"): Example(
            query={"status": "open", "overdue": "false", "patient_id": patient, "limit": "5"}
        ),
        ("GET", "/escalations/{case_id}"): Example(path={"case_id": case_id}),
        ("POST", "/escalations/{case_id}/actions"): Example(
            path={"case_id": case_id},
            headers={"If-Match": '"1"', "Idempotency-Key": "sweep-3"},
            body={"action": "comment", "comment": "synthetic"},
        ),
        ("POST", "/care-tasks"): Example(
            body={
                "patient_id": patient,
                "description": "synthetic",
                "assignee": "care-manager",
                "priority": "urgent",
                "due_at": "2026-01-05T08:00:00Z",
                "link_events": [event_id],
            },
        ),
        ("GET", "/care-tasks"): Example(
            query={"status": "requested", "assignee": "care-manager", "overdue": "true"}
        ),
        ("GET", "/care-tasks/{case_id}"): Example(path={"case_id": task_id}),
        ("POST", "/care-tasks/{case_id}/actions"): Example(
            path={"case_id": task_id},
            headers={"If-Match": '"1"'},
            body={"action": "reassign", "assignee": "pharmacist"},
        ),
        ("POST", "/prior-auth-cases"): Example(
            headers={"Idempotency-Key": "sweep-4"},
            body={
                **PRIOR_AUTH,
                "patient_id": patient,
                "urgency": "expedited",
                "tracking_number": "T-1",
                "notes": "synthetic",
                "link_events": [event_id],
            },
        ),
        ("GET", "/prior-auth-cases"): Example(
            query={"status": "draft", "payer": "sweep-payer", "patient_id": patient}
        ),
        ("GET", "/prior-auth-cases/metrics"): Example(
            query={
                "since": "2026-01-01T00:00:00Z",
                "until": "2026-12-31T00:00:00Z",
                "payer": "sweep-payer",
            }
        ),
        ("GET", "/prior-auth-cases/{case_id}"): Example(path={"case_id": auth_id}),
        ("POST", "/prior-auth-cases/{case_id}/actions"): Example(
            path={"case_id": auth_id},
            body={"action": "attach", "satisfies": [{"item": "x.y", "event_id": event_id}]},
        ),
        ("PUT", "/payers/{payer_id}"): Example(
            path={"payer_id": "sweep-payer"},
            body={
                "name": "Sweep Health Plan",
                "services": [
                    {
                        "code": "70551",
                        "requirements": [
                            {"id": "notes", "description": "visit notes", "kind": "document"}
                        ],
                    }
                ],
            },
        ),
        ("GET", "/payers/{payer_id}"): Example(path={"payer_id": "sweep-payer"}),
        ("GET", "/payers"): Example(query={"cursor": "a", "limit": "5"}),
        ("POST", "/patient-events/batch"): Example(
            body=[
                {
                    "patient_id": patient,
                    "event_type": "triage_note",
                    "payload": payload,
                    "occurred_at": "2026-01-05T08:00:00Z",
                    "source": "sweep",
                    "labels": ["BH"],
                    "idempotency_key": "sweep-batch-1",
                }
            ],
        ),
        **_subscription_examples(patient),
    }


def _subscription_examples(patient: str) -> dict[tuple[str, str], Example]:
    """The webhook subscriptions' operations (a subscription id of no one's: a valid one
    is looked up, and not found, only after every input has been checked)."""
    known = {"subscription_id": "00000000-0000-4000-8000-000000000024"}
    return {
        ("POST", "/subscriptions"): Example(
            body={
                "url": "https://93.184.215.14/hook",
                "patient_ids": [patient],
                "event_types": ["triage_note"],
                "description": "synthetic",
            }
        ),
        ("GET", "/subscriptions"): Example(),
        ("GET", "/subscriptions/{subscription_id}"): Example(path=known),
        ("DELETE", "/subscriptions/{subscription_id}"): Example(path=known),
        ("GET", "/subscriptions/{subscription_id}/deliveries"): Example(
            path=known, query={"limit": "5", "cursor": "12"}
        ),
        ("POST", "/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay"): Example(
            path={**known, "delivery_id": "1"}
        ),
    }


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def _variants(
    doc: dict[str, Any], operation: dict[str, Any], example: Example
) -> Iterator[tuple[str, Example]]:
    """The example with one input at a time set to NUL: each parameter the operation
    declares, each property of its JSON body, and the headers every protected operation
    reads (public ones ignore them)."""
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if where == "path":
            yield f"path {name}", replace(example, path={**example.path, name: NUL})
        elif where == "query":
            yield f"query {name}", replace(example, query={**example.query, name: NUL})
        elif where == "header":
            yield f"header {name}", replace(example, headers={**example.headers, name: NUL})
    for name in COMMON_HEADERS if operation.get("security") else ():
        yield f"header {name}", replace(example, headers={**example.headers, name: NUL})
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        schema = _resolve(doc, content["application/json"]["schema"])
        if isinstance(example.body, list):  # an array of items: each property of one item
            [item] = example.body
            for name in _resolve(doc, schema["items"]).get("properties", {}):
                yield f"body [0].{name}", replace(example, body=[{**item, name: NUL}])
            return
        assert example.body is not None
        for name in schema.get("properties", {}):
            yield f"body {name}", replace(example, body={**example.body, name: NUL})


async def _send(
    client: httpx.AsyncClient, method: str, template: str, example: Example, token: str
) -> httpx.Response:
    path = template
    for name, value in example.path.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    headers = {**bearer(token), **example.headers}
    content = None
    if example.body is not None:
        headers["Content-Type"] = "application/json"
        content = json.dumps(example.body).encode()
    return await client.request(
        method, path, params=example.query, headers=headers, content=content
    )


async def test_every_input_of_every_operation_refuses_a_nul(
    app: FastAPI, client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    token = await make_token(pool, tenant, "events:read", "events:write", "audit:read", "admin")
    event_id = await record(client, bearer(token), patient, "triage_note", {"text": "synthetic"})
    case = await client.post(
        "/escalations",
        json={"patient_id": patient, "severity": "routine", "reason": "synthetic"},
        headers=bearer(token),
    )
    task = await client.post(
        "/care-tasks",
        json={"patient_id": patient, "description": "synthetic", "assignee": "care-manager"},
        headers=bearer(token),
    )
    auth = await client.post(
        "/prior-auth-cases", json={**PRIOR_AUTH, "patient_id": patient}, headers=bearer(token)
    )
    examples = _examples(patient, event_id, case.json()["id"], task.json()["id"], auth.json()["id"])
    doc = app.openapi()
    operations = {
        (method.upper(), path): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }
    assert set(operations) == set(examples), "give each new operation a valid example here"
    types_before = (await client.get("/event-types", headers=bearer(token))).json()
    failures: list[str] = []
    swept = 0
    for (method, template), operation in sorted(operations.items()):
        for what, variant in _variants(doc, operation, examples[(method, template)]):
            swept += 1
            response = await _send(client, method, template, variant, token)
            # (A problem, or FHIR's own refusal where the operation is FHIR's: an
            # OperationOutcome, as the export kick-off's 400 for its Prefer header.)
            refusal = response.json() if 400 <= response.status_code < 500 else {}
            if "code" not in refusal and refusal.get("resourceType") != "OperationOutcome":
                failures.append(f"{method} {template} {what}: {response.status_code}")
    assert not failures, failures
    # Not refused: an unusable request id is replaced by one the service makes (for every
    # route alike: the request middleware does it before routing).
    answered = await client.get("/event-types", headers={**bearer(token), "X-Request-ID": NUL})
    assert answered.status_code == 200
    assert answered.headers["x-request-id"] not in (NUL, "")
    assert swept > 100  # every parameter, body property and common header of 26 operations
    # Nothing was written but the note and the three cases.
    assert await count_events(pool, tenant) == 4
    types_after = (await client.get("/event-types", headers=bearer(token))).json()
    assert types_after == types_before
