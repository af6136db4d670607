"""FHIR R4 import (issue 13), resource type by resource type: each read from hand-written FHIR
(as another system writes it) gives the expected payload and time, and exported again by
Carelog reads as the same event; resources without a typed mapping are kept whole."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from carelog.domain.clinical import check_payload
from carelog.domain.fhir import (
    Imported,
    PatientRef,
    Read,
    Rejected,
    event_resources,
    merge_signs,
    read_resource,
)
from carelog.domain.fhir import codes as c
from tests.factories import fhir_event

pytestmark = pytest.mark.unit


SUBJECT = {"reference": "Patient/P-1"}
WHEN = "2025-03-01T10:30:00+01:00"  # 09:30 UTC
AT = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": c.UCUM, "code": unit}


def _category(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": c.OBSERVATION_CATEGORY, "code": code}]}]


# Resources as another system writes them, and the event each is read as.
FOREIGN: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "lab": (
        {
            "resourceType": "Observation",
            "status": "final",
            "category": _category("laboratory"),
            "code": {"coding": [{"system": c.LOINC, "code": "2345-7", "display": "Glucose"}]},
            "subject": SUBJECT,
            "effectiveDateTime": WHEN,
            "valueQuantity": {"value": 182, "unit": "mg/dL", "system": c.UCUM, "code": "mg/dL"},
            "referenceRange": [{"low": _quantity(70, "mg/dL"), "high": _quantity(99, "mg/dL")}],
            "interpretation": [{"coding": [{"system": c.INTERPRETATION, "code": "H"}]}],
        },
        "lab_result",
        {
            "loinc": "2345-7",
            "test": "Glucose",
            "value": 182,
            "unit": "mg/dL",
            "reference_range": {"low": 70, "high": 99},
            "flag": "high",
        },
    ),
    "survey": (
        {
            "resourceType": "Observation",
            "status": "final",
            "category": _category("survey"),
            "code": {"coding": [{"system": c.LOINC, "code": "44261-6"}], "text": "PHQ-9"},
            "subject": SUBJECT,
            "effectiveDateTime": WHEN,
            "valueInteger": 14,
        },
        "lab_result",
        {"loinc": "44261-6", "test": "PHQ-9", "value": 14},
    ),
    "vital": (
        {
            "resourceType": "Observation",
            "status": "final",
            "category": _category("vital-signs"),
            "code": {"coding": [{"system": c.LOINC, "code": "85354-9"}]},
            "subject": SUBJECT,
            "effectivePeriod": {"start": WHEN},
            "component": [
                {
                    "code": {"coding": [{"system": c.LOINC, "code": "8480-6"}]},
                    "valueQuantity": _quantity(142, "mm[Hg]"),
                },
                {
                    "code": {"coding": [{"system": c.LOINC, "code": "8462-4"}]},
                    "valueQuantity": _quantity(91, "mm[Hg]"),
                },
            ],
        },
        "vital_signs",
        {"blood_pressure": {"systolic": 142, "diastolic": 91, "unit": "mm[Hg]"}},
    ),
    "triage": (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": c.LOINC, "code": "54094-8"}]},
            "subject": SUBJECT,
            "effectiveDateTime": WHEN,
            "valueString": "Chest pain since this morning.",
            "component": [
                {
                    "code": {"coding": [{"system": c.TRIAGE_SYSTEM, "code": "symptom"}]},
                    "valueString": "chest pain",
                },
                {
                    "code": {"coding": [{"system": c.TRIAGE_SYSTEM, "code": "severity"}]},
                    "valueCodeableConcept": {
                        "coding": [{"system": c.TRIAGE_SEVERITY_SYSTEM, "code": "high"}]
                    },
                },
            ],
        },
        "triage_note",
        {"text": "Chest pain since this morning.", "symptoms": ["chest pain"], "severity": "high"},
    ),
    "condition": (
        {
            "resourceType": "Condition",
            "clinicalStatus": {
                "coding": [{"system": c.CLINICAL_STATUS["Condition"], "code": "active"}]
            },
            "verificationStatus": {
                "coding": [{"system": c.VERIFICATION_STATUS["Condition"], "code": "confirmed"}]
            },
            "code": {
                "coding": [
                    {"system": c.ICD10CM, "code": "E11.9"},
                    {"system": c.SNOMED, "code": "44054006"},
                ],
                "text": "Type 2 diabetes",
            },
            "subject": SUBJECT,
            "onsetDateTime": "2019-06-01",  # no recordedDate: the onset, a day at midnight UTC
        },
        "condition",
        {
            "icd10": "E11.9",
            "snomed": "44054006",
            "name": "Type 2 diabetes",
            "clinical_status": "active",
            "verification_status": "confirmed",
        },
    ),
    "statement": (
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": {
                "coding": [{"system": c.RXNORM, "code": "860975", "display": "metformin"}]
            },
            "subject": SUBJECT,
            "effectiveDateTime": WHEN,
            "dosage": [
                {
                    "text": "500 mg oral twice daily",
                    "route": {"text": "oral"},
                    "timing": {"code": {"text": "twice daily"}},
                }
            ],
            "reasonCode": [{"text": "Type 2 diabetes"}],
        },
        "medication",
        {
            "rxnorm": "860975",
            "name": "metformin",
            "status": "active",
            "dose": "500 mg",
            "route": "oral",
            "frequency": "twice daily",
            "indication": "Type 2 diabetes",
        },
    ),
    "request": (
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": c.RXNORM, "code": "314076"}],
                "text": "lisinopril 10 mg",
            },
            "subject": SUBJECT,
            "authoredOn": WHEN,
            "dosageInstruction": [
                {"route": {"text": "oral"}, "doseAndRate": [{"doseQuantity": _quantity(10, "mg")}]}
            ],
        },
        "medication",
        {
            "rxnorm": "314076",
            "name": "lisinopril 10 mg",
            "status": "active",
            "dose": "10 mg",
            "route": "oral",
            "intent": "order",
        },
    ),
    "allergy": (
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {
                "coding": [{"system": c.CLINICAL_STATUS["AllergyIntolerance"], "code": "active"}]
            },
            "criticality": "high",
            "code": {"coding": [{"system": c.RXNORM, "code": "7980"}], "text": "penicillin"},
            "patient": SUBJECT,
            "recordedDate": WHEN,
            "reaction": [{"manifestation": [{"text": "hives"}], "severity": "moderate"}],
        },
        "allergy",
        {
            "substance": "penicillin",
            "rxnorm": "7980",
            "criticality": "high",
            "clinical_status": "active",
            "reaction": "hives",
            "severity": "moderate",
        },
    ),
    "encounter": (
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": c.ACT_CODE, "code": "AMB"},
            "type": [{"text": "office visit"}],
            "subject": SUBJECT,
            "period": {"start": "2025-03-01T09:30:00Z", "end": "2025-03-01T10:00:00Z"},
            "reasonCode": [{"text": "follow-up"}],
        },
        "encounter",
        {
            "type": "office visit",
            "reason": "follow-up",
            "start": "2025-03-01T09:30:00Z",
            "end": "2025-03-01T10:00:00Z",
        },
    ),
    "document": (
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "subject": SUBJECT,
            "date": "2025-03-01T09:30:00Z",
            "description": "Discharge note",
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain",
                        "data": base64.b64encode("Sent home, café.".encode()).decode(),
                    }
                }
            ],
        },
        "document",
        {"title": "Discharge note", "content_type": "text/plain", "text": "Sent home, café."},
    ),
}


def _imported(read: Read) -> Imported:
    assert isinstance(read, Imported), read
    return read


@pytest.mark.parametrize("name", list(FOREIGN))
def test_each_resource_type_both_ways(name: str) -> None:
    resource, event_type, payload = FOREIGN[name]
    imported = _imported(read_resource(resource))
    assert (imported.event_type, imported.payload) == (event_type, payload)
    assert imported.patient == PatientRef(id="P-1")
    assert imported.status == c.FINAL
    check_payload(event_type, imported.payload)
    if name == "condition":
        assert imported.occurred_at == datetime(2019, 6, 1, tzinfo=UTC)
    else:
        assert imported.occurred_at == AT
    # And back: exported as Carelog writes it, it reads as the same event.
    event = fhir_event(3, imported.event_type, imported.payload, occurred_at=imported.occurred_at)
    again = merge_signs(read_resource(r) for r in event_resources(event))
    assert [(_imported(r).event_type, _imported(r).payload) for r in again] == [
        (event_type, payload)
    ]
    assert _imported(again[0]).occurred_at == imported.occurred_at


def test_unmapped_resources_are_kept_whole() -> None:
    procedure = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"text": "Appendectomy"},
        "subject": SUBJECT,
        "performedDateTime": WHEN,
    }
    ratio = {
        **FOREIGN["lab"][0],
        "valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 40}},
    }
    del ratio["valueQuantity"], ratio["referenceRange"]
    for resource in (procedure, ratio):
        imported = _imported(read_resource(resource))
        assert imported.event_type == f"fhir.{resource['resourceType']}"
        assert imported.payload == resource
        assert imported.occurred_at == AT


def test_a_patient_may_be_named_by_identifier() -> None:
    lab = FOREIGN["lab"][0]
    by_query = {**lab, "subject": {"reference": "Patient?identifier=urn:oid:1.2.3%7CMRN-9"}}
    logical = {**lab, "subject": {"identifier": {"system": "urn:oid:1.2.3", "value": "MRN-9"}}}
    absolute = {**lab, "subject": {"reference": "https://ehr.example/fhir/Patient/P-1/_history/2"}}
    for resource in (by_query, logical):
        assert _imported(read_resource(resource)).patient == PatientRef(
            system="urn:oid:1.2.3", value="MRN-9"
        )
    assert _imported(read_resource(absolute)).patient.id == "P-1"
    group = read_resource({**lab, "subject": {"reference": "Group/1"}})
    assert isinstance(group, Rejected)
    assert group.issues[0].location == "Observation.subject.reference"
