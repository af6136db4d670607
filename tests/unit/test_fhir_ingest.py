"""FHIR R4 import (issue 13): Carelog's own export read back gives the events it was made of,
field by field, over a generated population (statuses, labels, corrections and retractions
too); a content hash recognises the same content; Basic, statuses, extra fields and Patients
come back as the export wrote them."""

from __future__ import annotations

from datetime import UTC

import pytest

from carelog.cli.generate import to_events
from carelog.domain.clinical import check_payload
from carelog.domain.events import PatientEvent
from carelog.domain.fhir import (
    Imported,
    ImportedPatient,
    PatientRef,
    Read,
    content_hash,
    event_resources,
    merge_signs,
    patient_resource,
    read_resource,
    to_resources,
    versions,
)
from carelog.domain.fhir import codes as c
from carelog.synthetic.population import cohort
from tests.factories import fhir_event

pytestmark = pytest.mark.unit


def _events(patients: int, seed: int) -> list[PatientEvent]:
    found: list[PatientEvent] = []
    for patient in cohort(patients, seed):
        found.extend(to_events(patient.timed_records(), len(found) + 1))
    return found


def _round_trip(events: list[PatientEvent], *, validate: bool) -> dict[str, int]:
    """Every version of every event exported and read back: the same event, field by field."""
    seen: dict[str, int] = {}
    for version in versions(events):
        reads = merge_signs(read_resource(r, validate=validate) for r in to_resources(version))
        assert len(reads) == 1, reads
        (imported,) = reads
        assert isinstance(imported, Imported), imported
        event, content = version.event, version.content
        assert imported.event_type == content.event_type
        assert imported.status == event.status
        assert imported.labels == frozenset(event.labels)
        assert imported.occurred_at == content.occurred_at
        assert imported.occurred_at.tzinfo is UTC
        assert imported.patient == PatientRef(id=event.patient_id)
        assert imported.event_identifier == str(event.id)
        assert imported.version_id == str(version.number)
        check_payload(imported.event_type, imported.payload)
        if event.status == c.RETRACTED:
            # A retraction shows what it retracts, less the statuses it overrides.
            statuses = {"status", "clinical_status", "verification_status"}
            assert {k: v for k, v in imported.payload.items() if k not in statuses} == {
                k: v for k, v in content.payload.items() if k not in statuses
            }
        else:
            assert imported.payload == content.payload
        key = f"{content.event_type}:{event.status}"
        seen[key] = seen.get(key, 0) + 1
    return seen


def test_a_population_exported_and_imported_is_the_same_events() -> None:
    # 200 patients (about 13,000 events, 20,000 resources) read without fhir.resources, whose
    # validation costs about 0.45 ms a resource; the next test validates a smaller one.
    seen = _round_trip(_events(200, 7), validate=False)
    types = {key.split(":")[0] for key in seen}
    assert types == {
        "lab_result", "vital_signs", "triage_note", "condition", "medication", "allergy",
        "encounter", "document",
    }  # fmt: skip
    assert seen["lab_result:amended"] >= 10
    assert seen["vital_signs:entered-in-error"] >= 1


def test_the_round_trip_holds_with_validation() -> None:
    seen = _round_trip(_events(25, 3), validate=True)
    assert sum(seen.values()) > 1000


def test_the_same_content_has_the_same_hash_whatever_its_meta() -> None:
    (obs,) = event_resources(fhir_event(1, "lab_result", {"loinc": "4548-4", "value": 8.4}))
    first = read_resource(obs)
    again = read_resource(
        {**obs, "meta": {"versionId": "7", "lastUpdated": "2026-01-01T00:00:00Z"}}
    )
    changed = read_resource({**obs, "valueQuantity": {"value": 8.5}})
    assert isinstance(first, Imported)
    assert isinstance(again, Imported)
    assert isinstance(changed, Imported)
    assert first.content_hash == again.content_hash == content_hash(obs)
    assert len(first.content_hash) == 64
    assert (first.version_id, again.version_id) == ("1", "7")
    assert changed.content_hash != first.content_hash


def _imported(read: Read) -> Imported:
    assert isinstance(read, Imported), read
    return read


def test_a_carelog_basic_is_its_event_again() -> None:
    decision = {"agent": "triage-bot", "action": "escalate", "relied_on": [3, 4]}
    for event in (
        fhir_event(7, "agent_decision", decision),
        fhir_event(8, "wearable.sleep", {"hours": 6.5}),
    ):
        (basic,) = event_resources(event)
        imported = _imported(read_resource(basic))
        assert (imported.event_type, imported.payload) == (event.event_type, event.payload)
        assert imported.occurred_at == event.occurred_at
    other = {
        "resourceType": "Basic",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/P-1"},
        "created": "2025-03-01",
    }
    assert _imported(read_resource(other)).event_type == "fhir.Basic"


def test_statuses_labels_and_extra_fields_come_back() -> None:
    condition = {"icd10": "F32.9", "clinical_status": "active", "verification_status": "presumed"}
    chain = [
        fhir_event(1, "condition", condition, labels=["BH"]),
        fhir_event(2, "condition", {}, status=c.RETRACTED, supersedes=1, labels=["BH"]),
    ]
    first, second = (_imported(read_resource(r)) for v in versions(chain) for r in to_resources(v))
    assert first.payload == condition  # presumed: R4's unconfirmed, the code kept aside
    assert (first.status, first.labels) == (c.FINAL, frozenset({"BH"}))
    assert second.status == c.RETRACTED
    assert "clinical_status" not in second.payload
    summary = {"type": "ED", "summary": "Seen and sent home.", "triage_level": 3}
    (encounter,) = event_resources(fhir_event(11, "encounter", summary))
    assert _imported(read_resource(encounter)).payload == {
        **summary,
        "start": "2025-03-01T09:30:00Z",
    }


def test_a_patient_registers_its_id_and_identifiers() -> None:
    plain = read_resource(patient_resource("S1-P000001"))
    hashed = read_resource(patient_resource("tenant:odd_id"))
    foreign = read_resource(
        {"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-9"}]}
    )
    assert isinstance(plain, ImportedPatient)
    assert isinstance(hashed, ImportedPatient)
    assert isinstance(foreign, ImportedPatient)
    assert (plain.resource_id, plain.patient_id) == ("S1-P000001", "S1-P000001")
    assert hashed.resource_id is not None
    assert hashed.resource_id.startswith("cl-")
    assert hashed.patient_id == "tenant:odd_id"
    assert foreign.patient_id is None
    assert foreign.identifiers == (("urn:oid:1.2.3", "MRN-9"),)
    assert foreign.ref == PatientRef(system="urn:oid:1.2.3", value="MRN-9")
