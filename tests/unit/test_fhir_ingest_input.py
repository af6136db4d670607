"""FHIR R4 import (issue 13), what clients get wrong: malformed resources are rejected with a
location, a message and an OperationOutcome code (never an exception); Bundles (collection,
batch, transaction) and NDJSON are read entry by entry and line by line; the answers built
from their outcomes are valid R4 (checked with ``fhir.resources``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from carelog.domain.fhir import (
    Imported,
    ImportedPatient,
    Issue,
    NdjsonReader,
    Outcome,
    PatientRef,
    Read,
    Rejected,
    operation_outcome,
    read_bundle,
    read_ndjson,
    read_resource,
    response_bundle,
)
from carelog.domain.fhir import codes as c
from tests.factories import changed

pytestmark = pytest.mark.unit

LAB: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "lab-1",
    "status": "final",
    "category": [{"coding": [{"system": c.OBSERVATION_CATEGORY, "code": "laboratory"}]}],
    "code": {"coding": [{"system": c.LOINC, "code": "4548-4", "display": "HbA1c"}]},
    "subject": {"reference": "Patient/P-1"},
    "effectiveDateTime": "2025-03-01T09:30:00Z",
    "valueQuantity": {"value": 8.4, "unit": "%", "system": c.UCUM, "code": "%"},
}


def _lab(**changes: Any) -> dict[str, Any]:
    return changed(LAB, **changes)


def _issues(read: Read) -> list[tuple[str, str]]:
    assert isinstance(read, Rejected), read
    assert read.issues
    return [(issue.location, issue.code) for issue in read.issues]


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ([1, 2], [("Resource", "structure")]),
        ({"id": "x"}, [("Resource.resourceType", "required")]),
        (_lab(resourceType="Observaton"), [("Observaton.resourceType", "not-supported")]),
        (_lab(status=None), [("Observation.status", "required")]),
        (_lab(status="preliminary"), [("Observation.status", "not-supported")]),
        (_lab(subject=None), [("Observation.subject", "required")]),
        (_lab(effectiveDateTime=None), [("Observation.effective[x]", "required")]),
        (
            _lab(effectiveDateTime="2025-02-30T09:00:00Z"),
            [("Observation.effectiveDateTime", "value")],
        ),
        # FHIR requires the zone with a time: fhir.resources' pattern refuses it.
        (
            _lab(effectiveDateTime="2025-03-01T09:30:00"),
            [("Observation.effectiveDateTime", "value")],
        ),
        (_lab(effectiveDateTime="2025-03"), [("Observation.effectiveDateTime", "value")]),
        (_lab(effectiveDateTime="1700-03-01"), [("Observation.effectiveDateTime", "value")]),
        (
            _lab(valueQuantity={"value": 8.4, "unit": "per cent"}),
            [("Observation.valueQuantity.unit", "code-invalid")],  # a UCUM code has no space
        ),
        (
            _lab(valueQuantity={"value": 8.4, "system": "urn:my-units", "code": "pct"}),
            [("Observation.valueQuantity.system", "code-invalid")],
        ),
        (_lab(valueQuantity={"unit": "%"}), [("Observation.valueQuantity.value", "required")]),
        (
            _lab(code={"coding": [{"system": c.LOINC, "code": "not-a-loinc"}]}),
            [("Observation.code.coding", "code-invalid")],
        ),
        (
            _lab(interpretation=[{"coding": [{"system": c.INTERPRETATION, "code": "POS"}]}]),
            [("Observation.interpretation[0]", "code-invalid")],
        ),
        (_lab(valueString="x" * 201, valueQuantity=None), [("Observation.value[x]", "too-long")]),
        (_lab(bogus=1), [("Observation.bogus", "structure")]),
        (
            _lab(meta={"security": [{"system": c.ACT_CODE, "code": "PSY"}]}),
            [("Observation.meta.security[0]", "code-invalid")],
        ),
        (
            _lab(meta={"security": [{"system": "urn:other", "code": "BH"}]}),
            [("Observation.meta.security[0]", "code-invalid")],
        ),
        (
            _lab(modifierExtension=[{"url": "urn:x", "valueBoolean": True}]),
            [("Observation.modifierExtension", "not-supported")],
        ),
        (
            {
                "resourceType": "DocumentReference",
                "status": "current",
                "subject": {"reference": "Patient/P-1"},
                "date": "2025-03-01T09:30:00Z",
                "content": [{"attachment": {"url": "https://docs.example/1.pdf"}}],
            },
            [("DocumentReference.content[0].attachment.data", "not-supported")],
        ),
        (
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationReference": {"reference": "Medication/1"},
                "subject": {"reference": "Patient/P-1"},
                "authoredOn": "2025-03-01",
            },
            [("MedicationRequest.medication[x]", "not-supported")],
        ),
        (
            {
                "resourceType": "Procedure",
                "status": "completed",
                "subject": {"reference": "Patient/P-1"},
            },
            [("Procedure", "required")],
        ),
        ({"resourceType": "Organization", "name": "Clinic"}, [("Organization", "not-supported")]),
    ],
)
def test_malformed_resources_are_rejected_where_they_are_wrong(
    resource: Any, expected: list[tuple[str, str]]
) -> None:
    assert _issues(read_resource(resource)) == expected


def test_a_time_with_an_offset_is_read_in_utc() -> None:
    read = read_resource(_lab(effectiveDateTime="2025-03-01T23:30:00.123456789-05:00"))
    assert isinstance(read, Imported)
    assert read.occurred_at.isoformat() == "2025-03-02T04:30:00.123456+00:00"


def test_known_security_labels_are_read() -> None:
    security = [{"system": c.ACT_CODE, "code": "ETH"}, {"system": c.ACT_CODE, "code": "BH"}]
    read = read_resource(_lab(meta={"versionId": "3", "security": security}))
    assert isinstance(read, Imported)
    assert (read.labels, read.version_id) == (frozenset({"ETH", "BH"}), "3")


def _patient(full_url: str, **more: Any) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": {"resourceType": "Patient", **more},
        "request": {"method": "POST", "url": "Patient"},
    }


def _entry(
    resource: dict[str, Any], method: str = "POST", url: str = "Observation"
) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": method, "url": url}}


def test_a_transaction_resolves_references_between_entries() -> None:
    patient = _patient(
        "urn:uuid:6f1c1e8a-5a9b-4a53-9f3e-0d7b4f1e2a11",
        identifier=[{"system": "urn:oid:1.2.3", "value": "MRN-9"}],
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            patient,
            _entry(_lab(subject={"reference": "urn:uuid:6f1c1e8a-5a9b-4a53-9f3e-0d7b4f1e2a11"})),
            _entry(_lab(subject={"reference": "urn:uuid:0000"})),
            _entry(_lab(id="lab-7"), "PUT", "Observation/lab-7"),
            _entry(_lab(), "PUT", "Observation/other"),
            _entry(_lab(), "DELETE", "Observation/lab-1"),
            {"resource": _lab()},
            _entry(_lab(effectiveDateTime="2025")),
        ],
    }
    read = read_bundle(bundle)
    assert (read.kind, read.issues) == ("transaction", ())
    items = read.items
    assert [item.where for item in items] == [f"Bundle.entry[{i}]" for i in range(8)]
    assert isinstance(items[0].read, ImportedPatient)
    assert isinstance(items[1].read, Imported)
    assert items[1].read.patient == PatientRef(system="urn:oid:1.2.3", value="MRN-9")
    assert isinstance(items[3].read, Imported)
    assert (items[3].method, items[3].url) == ("PUT", "Observation/lab-7")
    assert _issues(items[2].read) == [("Bundle.entry[2].resource.subject", "not-found")]
    assert _issues(items[4].read) == [("Bundle.entry[4].request.url", "invalid")]
    assert _issues(items[5].read) == [("Bundle.entry[5].request.method", "not-supported")]
    assert _issues(items[6].read) == [("Bundle.entry[6].request", "required")]
    assert _issues(items[7].read) == [("Bundle.entry[7].resource.effectiveDateTime", "value")]


def test_a_collection_needs_no_requests_and_maps_hashed_patient_ids() -> None:
    patient = {"resourceType": "Patient", "id": "cl-abc", "identifier": [
        {"system": c.PATIENT_IDENTIFIER, "value": "tenant:odd_id"},
    ]}  # fmt: skip
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": patient},
            {"resource": _lab(subject={"reference": "Patient/cl-abc"})},
        ],
    }
    items = read_bundle(bundle).items
    assert isinstance(items[1].read, Imported)
    assert items[1].read.patient == PatientRef(id="tenant:odd_id")


@pytest.mark.parametrize(
    ("body", "location", "code"),
    [
        ({"resourceType": "Patient"}, "Bundle.resourceType", "invalid"),
        ({"resourceType": "Bundle", "type": "searchset"}, "Bundle.type", "not-supported"),
        ({"resourceType": "Bundle", "type": "batch", "entry": {}}, "Bundle.entry", "structure"),
    ],
)
def test_other_bundles_are_refused_whole(body: dict[str, Any], location: str, code: str) -> None:
    read = read_bundle(body)
    assert read.items == ()
    assert read.issues == (Issue(location, read.issues[0].message, code),)  # type: ignore[arg-type]


def test_ndjson_reads_good_lines_and_says_which_are_bad() -> None:
    lines = [
        json.dumps(LAB).encode() + b"\n",
        b"\n",
        b"{not json\n",
        b"[1, 2]\n",
        json.dumps(_lab(status=None)).encode(),
        b"x" * 101,
        json.dumps({**LAB, "valueQuantity": {"value": float("nan")}}).encode(),
        json.dumps(_lab(subject={"reference": "urn:uuid:1234"})).encode(),
        json.dumps({"resourceType": "Patient", "id": "P-1"}).encode(),
    ]
    items = list(read_ndjson(lines, max_line_bytes=100 * 1000))
    assert [item.position for item in items] == [1, 3, 4, 5, 6, 7, 8, 9]
    assert isinstance(items[0].read, Imported)
    assert _issues(items[1].read) == [("line 3", "invalid")]
    assert _issues(items[2].read) == [("line 4", "structure")]
    assert _issues(items[3].read) == [("Observation.status", "required")]
    assert isinstance(items[4].read, Rejected)  # 101 bytes of "x": not JSON
    assert _issues(items[5].read) == [("line 7", "invalid")]  # NaN is not JSON
    assert _issues(items[6].read) == [("Observation.subject", "not-found")]
    assert isinstance(items[7].read, ImportedPatient)
    reader = NdjsonReader(max_line_bytes=50)
    assert reader.feed(b"  \r\n") is None
    long = reader.feed(b"{" + b" " * 60 + b"}")
    assert long is not None
    assert long.where == "line 2"
    assert _issues(long.read) == [("line 2", "too-long")]


def _validate(resource: dict[str, Any]) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


OUTCOMES = [
    Outcome("Bundle.entry[0]", "created", "Patient/P-1/_history/1"),
    Outcome("Bundle.entry[1]", "unchanged", "Observation/17/_history/2"),
    Outcome(
        "Bundle.entry[2]",
        "failed",
        issues=(Issue("Bundle.entry[2].resource.subject", "no entry has it", "not-found"),),
    ),
]


def test_the_operation_outcome_says_each_failure_and_counts_the_rest() -> None:
    outcome = operation_outcome(OUTCOMES)
    _validate(outcome)
    error, summary = outcome["issue"]
    assert error == {
        "severity": "error",
        "code": "not-found",
        "diagnostics": "no entry has it",
        "expression": ["Bundle.entry[2].resource.subject"],
    }
    assert summary["diagnostics"] == "1 created, 1 unchanged, 1 failed"
    line = operation_outcome(
        [Outcome("line 7", "failed", issues=(Issue("Observation.status", "x", "required"),))]
    )
    _validate(line)
    assert line["issue"][0]["diagnostics"] == "line 7: x"
    empty = operation_outcome([])
    _validate(empty)


def test_batch_and_transaction_responses() -> None:
    batch = response_bundle("batch", OUTCOMES)
    _validate(batch)
    assert batch["type"] == "batch-response"
    responses = [entry["response"] for entry in batch["entry"]]
    assert [r["status"] for r in responses] == ["201 Created", "200 OK", "400 Bad Request"]
    assert responses[0]["location"] == "Patient/P-1/_history/1"
    assert responses[0]["etag"] == 'W/"1"'
    assert responses[2]["outcome"]["issue"][0]["code"] == "not-found"
    done = response_bundle("transaction", OUTCOMES[:2])
    _validate(done)
    assert done["type"] == "transaction-response"
    failed = response_bundle("transaction", OUTCOMES)
    _validate(failed)
    assert failed["resourceType"] == "OperationOutcome"
