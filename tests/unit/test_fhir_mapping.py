"""Carelog events as FHIR R4 (issue 13): every resource of a generated population validates
with ``fhir.resources`` (R4B models, R4's for these resources), the clinical content is there
field by field, corrections and retractions are versions of the same resource with the
statuses FHIR has for them, sensitivity labels are in ``meta.security``, Bundles validate."""

from __future__ import annotations

import base64
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from typer.testing import CliRunner

from carelog.cli import app
from carelog.cli.generate import to_events
from carelog.domain.events import PatientEvent
from carelog.domain.fhir import (
    Resource,
    bundle,
    current,
    event_resources,
    history,
    patient_resource,
    patient_resource_id,
)
from carelog.domain.fhir import codes as c
from carelog.synthetic.population import cohort

pytestmark = pytest.mark.unit

LOINC = {
    "blood_pressure": "85354-9",
    "heart_rate": "8867-4",
    "temperature": "8310-5",
    "spo2": "59408-5",
    "respiratory_rate": "9279-1",
    "weight": "29463-7",
    "height": "8302-2",
}


# Required bindings and invariants fhir.resources does not check (it checks structure,
# cardinality and primitive formats): the R4 value sets of the codes the mapping sets.
def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


REQUIRED: dict[tuple[str, str], frozenset[str]] = {
    ("Observation", "status"): _codes(
        "registered preliminary final amended corrected cancelled entered-in-error unknown"
    ),
    ("MedicationStatement", "status"): _codes(
        "active completed entered-in-error intended stopped on-hold unknown not-taken"
    ),
    ("Encounter", "status"): _codes(
        "planned arrived triaged in-progress onleave finished cancelled entered-in-error unknown"
    ),
    ("DocumentReference", "status"): _codes("current superseded entered-in-error"),
    ("DocumentReference", "docStatus"): _codes("preliminary final amended entered-in-error"),
    ("AllergyIntolerance", "criticality"): _codes("low high unable-to-assess"),
}
CLINICAL = {
    "Condition": {"active", "recurrence", "relapse", "inactive", "remission", "resolved"},
    "AllergyIntolerance": {"active", "inactive", "resolved"},
}
VERIFICATION = {
    "Condition": {
        "unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error",
    },
    "AllergyIntolerance": {"unconfirmed", "confirmed", "refuted", "entered-in-error"},
}  # fmt: skip


def validate(resource: Resource) -> None:
    """Raises unless ``resource`` is a valid R4 resource of its type."""
    kind = resource["resourceType"]
    get_fhir_model_class(kind).model_validate(resource)
    for (of, element), allowed in REQUIRED.items():
        if of == kind and element in resource:
            assert resource[element] in allowed, (kind, element, resource[element])
    if kind in CLINICAL:
        verification = resource.get("verificationStatus", {}).get("coding", [{}])[0].get("code")
        clinical = resource.get("clinicalStatus", {}).get("coding", [{}])[0].get("code")
        assert verification is None or verification in VERIFICATION[kind]
        assert clinical is None or clinical in CLINICAL[kind]
        # con-5 / ait-2: no clinical status once entered in error; ait-1: one otherwise.
        assert not (verification == "entered-in-error" and clinical is not None)
        if kind == "AllergyIntolerance":
            assert verification == "entered-in-error" or clinical is not None
    for reaction in resource.get("reaction", []):
        assert reaction.get("severity") in (None, "mild", "moderate", "severe")


@pytest.fixture(scope="module")
def events() -> list[PatientEvent]:
    found: list[PatientEvent] = []
    for patient in cohort(80, 13):
        found.extend(to_events(patient.timed_records(), len(found) + 1))
    return found


def _one(coding: list[dict[str, Any]], system: str) -> str | None:
    codes = [entry["code"] for entry in coding if entry["system"] == system]
    assert len(codes) <= 1
    return codes[0] if codes else None


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": c.UCUM, "code": unit}


def _time(event: PatientEvent) -> str:
    return event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_lab(event: PatientEvent, resources: list[Resource]) -> None:
    (obs,) = resources
    payload = event.payload
    assert obs["resourceType"] == "Observation"
    assert obs["category"][0]["coding"][0] == {
        "system": c.OBSERVATION_CATEGORY,
        # A questionnaire's score (PHQ-9 here) is a survey, any other result a lab's.
        "code": "survey" if payload["loinc"] == "44261-6" else "laboratory",
    }
    assert obs["code"]["coding"] == [
        {"system": "http://loinc.org", "code": payload["loinc"], "display": payload["test"]}
    ]
    assert obs["valueQuantity"] == _quantity(payload["value"], payload["unit"])
    bounds = payload.get("reference_range", {})
    if bounds:
        (rr,) = obs["referenceRange"]
        assert {k: v["value"] for k, v in rr.items()} == bounds
        assert all(v["code"] == payload["unit"] for v in rr.values())
    flag = {"high": "H", "low": "L", "normal": "N"}[payload["flag"]]
    assert obs["interpretation"][0]["coding"][0]["code"] == flag
    assert obs["interpretation"][0]["coding"][0]["system"] == c.INTERPRETATION
    assert obs["effectiveDateTime"] == _time(event)


def _check_vitals(event: PatientEvent, resources: list[Resource]) -> None:
    by_code = {r["code"]["coding"][0]["code"]: r for r in resources}
    assert set(by_code) == {LOINC[name] for name in event.payload}
    assert len({r["id"] for r in resources}) == len(resources)
    for name, value in event.payload.items():
        obs = by_code[LOINC[name]]
        assert obs["category"][0]["coding"][0]["code"] == "vital-signs"
        assert obs["effectiveDateTime"] == _time(event)
        assert obs["id"].startswith(f"{event.id}-")
        if name == "blood_pressure":
            parts = {p["code"]["coding"][0]["code"]: p["valueQuantity"] for p in obs["component"]}
            assert parts == {
                "8480-6": _quantity(value["systolic"], "mm[Hg]"),
                "8462-4": _quantity(value["diastolic"], "mm[Hg]"),
            }
            assert "valueQuantity" not in obs
        else:
            assert obs["valueQuantity"] == _quantity(value["value"], value["unit"])
        if name == "spo2":  # the R4 oxygen saturation profile's code too
            assert [x["code"] for x in obs["code"]["coding"]] == ["59408-5", "2708-6"]
        else:
            assert len(obs["code"]["coding"]) == 1


def _check_triage(event: PatientEvent, resources: list[Resource]) -> None:
    (obs,) = resources
    assert obs["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "54094-8",
        "display": "Emergency department Triage note",
    }
    parts: dict[str, list[Any]] = defaultdict(list)
    for part in obs["component"]:
        (coding,) = part["code"]["coding"]
        assert coding["system"] == c.TRIAGE_SYSTEM
        value = part.get("valueString") or part["valueCodeableConcept"]["coding"][0]["code"]
        parts[coding["code"]].append(value)
    assert {
        "symptoms": parts["symptom"],
        "severity": parts["severity"][0],
        "text": obs["valueString"],
        "disposition": parts["disposition"][0],
    } == event.payload
    assert obs["effectiveDateTime"] == _time(event)


def _check_condition(event: PatientEvent, resources: list[Resource]) -> None:
    (condition,) = resources
    payload = event.payload
    coding = condition["code"]["coding"]
    assert _one(coding, "http://hl7.org/fhir/sid/icd-10-cm") == payload["icd10"]
    assert _one(coding, "http://snomed.info/sct") == payload["snomed"]
    assert condition["code"]["text"] == payload["name"]
    assert condition["clinicalStatus"]["coding"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": payload["clinical_status"],
        }
    ]
    assert condition["verificationStatus"]["coding"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": "confirmed",
        }
    ]
    assert condition["recordedDate"] == _time(event)


def _check_medication(event: PatientEvent, resources: list[Resource]) -> None:
    (statement,) = resources
    payload = event.payload
    assert statement["status"] == payload["status"]
    concept = statement["medicationCodeableConcept"]
    assert concept["coding"] == [
        {
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "code": payload["rxnorm"],
            "display": payload["name"],
        }
    ]
    (dosage,) = statement["dosage"]
    assert dosage["text"] == f"{payload['dose']} {payload['route']} {payload['frequency']}"
    assert dosage["route"] == {"text": payload["route"]}
    assert dosage["timing"] == {"code": {"text": payload["frequency"]}}
    amount, unit = payload["dose"].split(" ", 1)
    if unit in ("mg", "mcg"):
        quantity = dosage["doseAndRate"][0]["doseQuantity"]
        assert (quantity["value"], quantity["code"]) == (
            float(amount),
            {"mg": "mg", "mcg": "ug"}[unit],
        )
    else:
        assert "doseAndRate" not in dosage  # "10 units", "90 mcg, 2 puffs": text only
    assert statement["reasonCode"] == [{"text": payload["indication"]}]
    if "reason_stopped" in payload:
        assert statement["statusReason"] == [{"text": payload["reason_stopped"]}]
    assert statement["effectiveDateTime"] == _time(event)


def _check_allergy(event: PatientEvent, resources: list[Resource]) -> None:
    (allergy,) = resources
    payload = event.payload
    assert allergy["patient"] == {"reference": f"Patient/{event.patient_id}"}
    system = (
        "http://www.nlm.nih.gov/research/umls/rxnorm"
        if "rxnorm" in payload
        else "http://snomed.info/sct"
    )
    assert allergy["code"] == {
        "coding": [{"system": system, "code": payload.get("rxnorm") or payload["snomed"]}],
        "text": payload["substance"],
    }
    assert allergy["clinicalStatus"]["coding"][0]["code"] == payload["clinical_status"]
    assert allergy["verificationStatus"]["coding"][0]["code"] == payload["verification_status"]
    assert allergy["criticality"] == payload["criticality"]
    assert allergy["reaction"] == [
        {"manifestation": [{"text": payload["reaction"]}], "severity": payload["severity"]}
    ]
    assert allergy["recordedDate"] == _time(event)


def _check_encounter(event: PatientEvent, resources: list[Resource]) -> None:
    (encounter,) = resources
    payload = event.payload
    assert encounter["status"] == "finished"
    assert encounter["class"]["code"] == "AMB"
    assert encounter["class"]["system"] == c.ACT_CODE
    assert encounter["type"] == [{"text": payload["type"]}]
    assert encounter["reasonCode"] == [{"text": payload["reason"]}]
    assert encounter["period"] == {"start": payload["start"], "end": payload["end"]}


def _check_document(event: PatientEvent, resources: list[Resource]) -> None:
    (document,) = resources
    payload = event.payload
    assert (document["status"], document["docStatus"]) == ("current", "final")
    (content,) = document["content"]
    attachment = content["attachment"]
    assert base64.b64decode(attachment["data"]).decode() == payload["text"]
    assert attachment["contentType"] == payload["content_type"]
    assert document["description"] == payload["title"]
    assert document["date"] == _time(event)


CHECKS = {
    "lab_result": _check_lab,
    "vital_signs": _check_vitals,
    "triage_note": _check_triage,
    "condition": _check_condition,
    "medication": _check_medication,
    "allergy": _check_allergy,
    "encounter": _check_encounter,
    "document": _check_document,
}


def test_every_version_of_every_resource_validates(events: list[PatientEvent]) -> None:
    kinds: Counter[str] = Counter()
    for resource in history(events):
        validate(resource)
        kinds[resource["resourceType"]] += 1
    assert set(kinds) == {
        "Observation", "Condition", "MedicationStatement", "AllergyIntolerance", "Encounter",
        "DocumentReference",
    }  # fmt: skip
    for patient_id in {e.patient_id for e in events}:
        validate(patient_resource(patient_id))


def test_the_clinical_content_is_there_field_by_field(events: list[PatientEvent]) -> None:
    checked: Counter[str] = Counter()
    for event in events:
        if event.supersedes is not None:
            continue
        resources = event_resources(event)
        for resource in resources:
            assert resource["meta"]["versionId"] == "1"
            assert resource["meta"]["lastUpdated"] == _time(event)  # recorded when it occurred
            assert resource["identifier"] == [
                {"system": c.EVENT_IDENTIFIER, "value": str(event.id)}
            ]
            assert resource.get("subject", resource.get("patient")) == {
                "reference": f"Patient/{event.patient_id}"
            }
            assert "extension" not in resource  # nothing left over, nothing to say
        CHECKS[event.event_type](event, resources)
        checked[event.event_type] += 1
        if event.event_type == "lab_result":
            checked[resources[0]["category"][0]["coding"][0]["code"]] += 1
    assert checked["survey"]  # PHQ-9 scores
    assert checked["laboratory"]
    del checked["survey"], checked["laboratory"]
    assert set(checked) == set(CHECKS)
    assert min(checked.values()) >= 5, checked  # allergies are the rarest


def test_behavioral_health_labels_are_in_meta_security(events: list[PatientEvent]) -> None:
    labelled = [e for e in events if "BH" in e.labels]
    assert labelled
    for event in labelled:
        for resource in event_resources(event):
            assert resource["meta"]["security"] == [
                {
                    "system": c.ACT_CODE,
                    "code": "BH",
                    "display": "behavioral health information sensitivity",
                }
            ]
    plain = next(e for e in events if not e.labels)
    assert all("security" not in r["meta"] for r in event_resources(plain))


def test_a_correction_is_the_next_version_of_the_same_resource(events: list[PatientEvent]) -> None:
    by_id = {e.id: e for e in events}
    corrections = [e for e in events if e.status == c.AMENDED]
    assert len(corrections) >= 10
    emitted = defaultdict(list)
    for resource in history(events):
        emitted[(resource["resourceType"], resource["id"])].append(resource)
    for correction in corrections:
        original = by_id[correction.supersedes or 0]
        first, second = emitted[("Observation", str(original.id))]
        assert (first["meta"]["versionId"], second["meta"]["versionId"]) == ("1", "2")
        assert (first["status"], second["status"]) == ("final", "corrected")
        assert first["valueQuantity"]["value"] == original.payload["value"]
        assert second["valueQuantity"]["value"] == correction.payload["value"]
        assert second["identifier"][0]["value"] == str(correction.id)
        assert second["meta"]["lastUpdated"] > first["meta"]["lastUpdated"]
        assert second["effectiveDateTime"] == first["effectiveDateTime"]


def test_a_retraction_is_the_entered_in_error_version(events: list[PatientEvent]) -> None:
    by_id = {e.id: e for e in events}
    retractions = [e for e in events if e.status == c.RETRACTED]
    assert retractions
    emitted = defaultdict(list)
    for resource in history(events):
        emitted[resource["id"]].append(resource)
    for retraction in retractions:
        original = by_id[retraction.supersedes or 0]
        signs = [key for key in emitted if key.startswith(f"{original.id}-")]
        assert len(signs) == len(original.payload)
        for key in signs:
            first, second = emitted[key]
            assert second["status"] == "entered-in-error"
            assert second["meta"]["versionId"] == "2"
            assert second["code"] == first["code"]
            assert second.get("valueQuantity") == first.get("valueQuantity")
    # The current view leaves them out, as Carelog's lists do.
    shown = {v.logical_id for v in current(events)}
    assert not shown & {r.supersedes for r in retractions}


def _event(event_id: int, event_type: str, payload: dict[str, Any], **more: Any) -> PatientEvent:
    return PatientEvent(
        id=event_id,
        patient_id="P-1",
        event_type=event_type,
        payload=payload,
        occurred_at=datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
        created_at=datetime(2025, 3, 1, 10, tzinfo=UTC),
        recorded_by="k1",
        **more,
    )


def test_a_retracted_condition_loses_its_clinical_status_and_says_why() -> None:
    payload = {"icd10": "F32.9", "clinical_status": "active", "verification_status": "confirmed"}
    chain = [
        _event(1, "condition", payload, labels=["BH"]),
        _event(2, "condition", {}, status=c.RETRACTED, supersedes=1, labels=["BH"]),
    ]
    first, second = list(history(chain))
    for resource in (first, second):
        validate(resource)
    assert first["clinicalStatus"]["coding"][0]["code"] == "active"
    assert "clinicalStatus" not in second
    assert second["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert second["extension"] == [{"url": c.STATUS_EXTENSION, "valueCode": "entered-in-error"}]
    assert second["code"] == first["code"]
    assert (second["id"], second["meta"]["versionId"]) == ("1", "2")


def test_a_correction_that_drops_a_sign_retracts_its_observation() -> None:
    taken = {"heart_rate": {"value": 70, "unit": "/min"}, "spo2": {"value": 97, "unit": "%"}}
    chain = [
        _event(5, "vital_signs", taken),
        _event(
            6, "vital_signs", {"heart_rate": taken["heart_rate"]}, status=c.AMENDED, supersedes=5
        ),
    ]
    out = [(r["id"], r["meta"]["versionId"], r["status"]) for r in history(chain)]
    assert out == [
        ("5-hr", "1", "final"),
        ("5-spo2", "1", "final"),
        ("5-hr", "2", "corrected"),
        ("5-spo2", "2", "entered-in-error"),
    ]


def test_agent_decisions_and_free_types_are_basic_with_their_payload() -> None:
    decision = {"agent": "triage-bot", "action": "escalate", "relied_on": [3, 4]}
    for event in (
        _event(7, "agent_decision", decision),
        _event(8, "wearable.sleep", {"hours": 6.5, "nested": {"deep": [1, 2]}}),
        # A typed event stored before its type was checked: kept whole rather than half mapped.
        _event(9, "lab_result", {"loinc": "not a code", "value": 1}),
    ):
        (basic,) = event_resources(event)
        validate(basic)
        assert basic["resourceType"] == "Basic"
        assert basic["code"]["coding"] == [
            {"system": c.EVENT_TYPE_SYSTEM, "code": event.event_type}
        ]
        assert basic["created"] == "2025-03-01"
        extensions = {e["url"]: e for e in basic["extension"]}
        assert json.loads(extensions[c.PAYLOAD_EXTENSION]["valueString"]) == event.payload
        assert extensions[c.OCCURRED_EXTENSION]["valueDateTime"] == "2025-03-01T09:30:00Z"
    amended = _event(
        10, "agent_decision", {**decision, "action": "defer"}, status=c.AMENDED, supersedes=7
    )
    (second,) = list(history([_event(7, "agent_decision", decision), amended]))[1:]
    validate(second)
    assert (second["id"], second["meta"]["versionId"]) == ("7", "2")
    extensions = {e["url"]: e for e in second["extension"]}
    assert extensions[c.STATUS_EXTENSION]["valueCode"] == "amended"
    assert json.loads(extensions[c.PAYLOAD_EXTENSION]["valueString"])["action"] == "defer"


def test_fields_without_an_element_travel_in_an_extension() -> None:
    payload = {"type": "ED", "summary": "Seen and sent home.", "triage_level": 3}
    (encounter,) = event_resources(_event(11, "encounter", payload))
    validate(encounter)
    assert encounter["class"]["code"] == "EMER"
    assert encounter["period"] == {"start": "2025-03-01T09:30:00Z"}
    (extra,) = encounter["extension"]
    assert extra["url"] == c.EXTRA_EXTENSION
    assert json.loads(extra["valueString"]) == {"summary": "Seen and sent home.", "triage_level": 3}


def test_a_presumed_allergy_is_unconfirmed_in_r4_and_keeps_its_code() -> None:
    payload = {"substance": "latex", "verification_status": "presumed", "severity": "mild"}
    (allergy,) = event_resources(_event(15, "allergy", payload))
    validate(allergy)
    assert allergy["verificationStatus"]["coding"][0]["code"] == "unconfirmed"
    assert allergy["clinicalStatus"]["coding"][0]["code"] == "active"
    assert "reaction" not in allergy  # FHIR's reaction needs a manifestation
    (extra,) = allergy["extension"]
    assert json.loads(extra["valueString"]) == {
        "verification_status": "presumed",
        "severity": "mild",
    }


def test_lab_text_values_flags_and_other_statuses() -> None:
    lab = {"test": "Culture", "value": "no growth", "flag": "critical", "specimen": "urine"}
    (obs,) = event_resources(_event(12, "lab_result", lab))
    validate(obs)
    assert obs["valueString"] == "no growth"
    assert obs["code"] == {"text": "Culture"}
    assert obs["interpretation"][0]["coding"][0]["code"] == "AA"
    assert obs["specimen"] == {"display": "urine"}
    document = _event(
        13, "document", {"title": "Note", "text": "é"}, status=c.AMENDED, supersedes=1
    )
    (doc,) = event_resources(document)
    validate(doc)
    assert (doc["status"], doc["docStatus"]) == ("current", "amended")
    medication = _event(14, "medication", {"name": "x"}, status=c.AMENDED, supersedes=2)
    (statement,) = event_resources(medication)
    assert statement["status"] == "unknown"
    assert statement["extension"] == [{"url": c.STATUS_EXTENSION, "valueCode": "amended"}]


def test_a_patient_id_fhir_does_not_allow_gets_a_stable_fhir_id() -> None:
    odd = patient_resource("mrn:123_4")
    validate(odd)
    assert odd["id"] == patient_resource_id("mrn:123_4") != patient_resource_id("mrn:123.4")
    assert odd["id"].startswith("cl-")
    assert odd["identifier"] == [{"system": c.PATIENT_IDENTIFIER, "value": "mrn:123_4"}]
    assert patient_resource("S1-P000001")["id"] == "S1-P000001"


@pytest.mark.parametrize("kind", ["collection", "searchset"])
def test_a_patients_bundle_validates(events: list[PatientEvent], kind: str) -> None:
    patient = next(e.patient_id for e in events if e.status == c.RETRACTED)
    mine = [e for e in events if e.patient_id == patient]
    made = bundle(patient, mine, kind=kind)  # type: ignore[arg-type]
    get_fhir_model_class("Bundle").model_validate(made)
    entries = [entry["resource"] for entry in made["entry"]]
    assert entries[0] == patient_resource(patient)
    ids = [(r["resourceType"], r["id"]) for r in entries]
    assert len(set(ids)) == len(ids)
    assert all(r.get("status") != "entered-in-error" for r in entries)
    corrected = {str(e.supersedes) for e in mine if e.status == c.AMENDED}
    assert all(r["meta"]["versionId"] == "2" for r in entries[1:] if r["id"] in corrected)
    if kind == "searchset":
        assert made["total"] == len(entries) - 1
        assert [e["search"]["mode"] for e in made["entry"][:2]] == ["include", "match"]


def test_generate_format_fhir_writes_valid_bulk_ndjson(tmp_path: Path) -> None:
    out = tmp_path / "population.ndjson"
    result = CliRunner().invoke(
        app, ["generate", "--patients", "15", "--seed", "3", "--format", "fhir", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        validate(line)
    patients = [r["id"] for r in lines if r["resourceType"] == "Patient"]
    assert patients == [f"S3-P{n:06d}" for n in range(1, 16)]
    assert lines[0]["resourceType"] == "Patient"
    owner, seen = "", defaultdict(list)
    for resource in lines:
        if resource["resourceType"] == "Patient":
            owner = resource["id"]
            continue
        reference = resource.get("subject", resource.get("patient"))
        assert reference == {"reference": f"Patient/{owner}"}
        seen[(resource["resourceType"], resource["id"])].append(resource)
    statuses: Counter[str | None] = Counter()
    for found in seen.values():
        assert [r["meta"]["versionId"] for r in found] == [str(n) for n in range(1, len(found) + 1)]
        statuses.update(r.get("status") for r in found[1:])
    assert statuses["corrected"] >= 1
    assert statuses["entered-in-error"] >= 1
    assert f"as {len(lines)} FHIR resources" in result.output
    # The carelog format is still the default, and the same population: each event is the
    # first version of its resources (one per vital sign), named by its identifier.
    plain = CliRunner().invoke(app, ["generate", "--patients", "15", "--seed", "3"])
    records = [json.loads(line) for line in plain.stdout.splitlines()]
    firsts = {
        r["identifier"][0]["value"] for r in lines if r.get("meta", {}).get("versionId") == "1"
    }
    assert len(firsts) == len([r for r in records if "patient_id" in r])
