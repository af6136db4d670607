"""Synthetic FHIR resources, Bundles and NDJSON for the POST /fhir and POST /fhir/$import
tests, how to read the answers, and what the import left in the log."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from carelog.storage.db import Pool
from tests.factories import tenant_rows

LOINC = "http://loinc.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MRN = "urn:oid:2.16.840.1.113883.19.5"


def lab(
    resource_id: str | None,
    subject: dict[str, Any],
    value: float,
    *,
    version: str | None = None,
    labels: tuple[str, ...] = (),
    when: str = "2026-01-05T08:00:00Z",
) -> dict[str, Any]:
    """A synthetic glucose result."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "laboratory"}]}],
        "code": {"coding": [{"system": LOINC, "code": "2345-7"}], "text": "Glucose"},
        "subject": subject,
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": "mg/dL",
            "system": "http://unitsofmeasure.org",
            "code": "mg/dL",
        },
    }
    if resource_id is not None:
        resource["id"] = resource_id
    meta: dict[str, Any] = {}
    if version is not None:
        meta["versionId"] = version
    if labels:
        meta["security"] = [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": label}
            for label in labels
        ]
    if meta:
        resource["meta"] = meta
    return resource


def of(patient: str) -> dict[str, str]:
    return {"reference": f"Patient/{patient}"}


def bundle(kind: str, *resources: dict[str, Any]) -> dict[str, Any]:
    """A Bundle of ``resources``: PUT <type>/<id> (POST without an id) in a batch or
    transaction."""
    entries = []
    for resource in resources:
        entry: dict[str, Any] = {"resource": resource}
        if kind != "collection":
            rid = resource.get("id")
            kind_of = resource["resourceType"]
            entry["request"] = (
                {"method": "PUT", "url": f"{kind_of}/{rid}"}
                if rid
                else {"method": "POST", "url": kind_of}
            )
        entries.append(entry)
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], body: Any, **extra: str
) -> httpx.Response:
    return await client.post(
        "/fhir",
        json=body,
        headers={**headers, "Content-Type": "application/fhir+json", **extra},
    )


def statuses(response: httpx.Response) -> list[str]:
    body = response.json()
    assert body["resourceType"] == "Bundle", body
    Bundle.model_validate(body)
    return [entry["response"]["status"] for entry in body["entry"]]


def summary(response: httpx.Response) -> str:
    body = response.json()
    OperationOutcome.model_validate(body)
    [info] = [i for i in body["issue"] if i["severity"] == "information"]
    return str(info["diagnostics"])


async def events_of(client: httpx.AsyncClient, headers: dict[str, str], patient: str) -> Any:
    response = await client.get(
        f"/patient-events/{patient}", params={"include": "history"}, headers=headers
    )
    return response.json() if response.status_code == 200 else []


def clinical_content(resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The clinical content of resources, in a stable order, less what names a tenant's own
    events and versions and when it recorded them (ids, meta, identifiers, issued,
    dateAsserted), and Patients. A corrected resource imported elsewhere arrives as the
    first version of a new event there: its status reads final."""
    found = []
    for original in resources:
        resource = dict(original)
        if resource["resourceType"] == "Patient":
            continue
        for key in ("id", "meta", "identifier", "issued", "dateAsserted"):
            resource.pop(key, None)
        if resource.get("status") == "corrected":
            resource["status"] = "final"
        found.append(resource)
    return sorted(found, key=repr)


NDJSON = {"Content-Type": "application/fhir+ndjson"}
UCUM = "http://unitsofmeasure.org"


def heart_rate(resource_id: str, patient: str, value: int) -> dict[str, Any]:
    """A synthetic heart rate: the bulk of these tests' lines (vital signs, so that they stay
    out of the coded-search index the search planner test measures)."""
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "8867-4"}], "text": "Heart rate"},
        "subject": of(patient),
        "effectiveDateTime": "2026-01-05T08:00:00Z",
        "valueQuantity": {"value": value, "unit": "/min", "system": UCUM, "code": "/min"},
    }


def ndjson(*resources: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in resources)


async def put(
    client: httpx.AsyncClient, headers: dict[str, str], body: Any, **extra: str
) -> httpx.Response:
    return await client.post("/fhir/$import", content=body, headers={**headers, **NDJSON, **extra})


def issues(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    OperationOutcome.model_validate(body)
    found: list[dict[str, Any]] = body["issue"]
    return found


def said(response: httpx.Response) -> list[str]:
    """The diagnostics of every issue but the summary."""
    return [str(i["diagnostics"]) for i in issues(response)[:-1]]


def summary_of(response: httpx.Response) -> str:
    return str(issues(response)[-1]["diagnostics"])


async def log_rows(pool: Pool, tenant: str) -> list[dict[str, Any]]:
    """The tenant's events, oldest id first, read straight from the database."""
    return await tenant_rows(
        pool,
        tenant,
        "SELECT id, tenant_id, patient_id, event_type, payload, occurred_at, source, labels,"
        " status, supersedes, reason FROM patient_events WHERE tenant_id = %s ORDER BY id",
    )


async def patient_versions(pool: Pool, tenant: str) -> dict[str, int]:
    """Each patient's version (patient_heads, kept by the log's statement trigger)."""
    found = await tenant_rows(
        pool, tenant, "SELECT patient_id, version FROM patient_heads WHERE tenant_id = %s"
    )
    return {str(r["patient_id"]): int(r["version"]) for r in found}
