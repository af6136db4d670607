"""One version of a Carelog event as FHIR R4 resources (plain dicts): one mapper per typed
event kind. The choices are in the package's docstring."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from pydantic import BaseModel, ValidationError

from carelog.domain.clinical import (
    EVENT_TYPES,
    Allergy,
    Condition,
    Document,
    Encounter,
    LabResult,
    Medication,
    Quantity,
    TriageNote,
    VitalSigns,
)
from carelog.domain.events import PatientEvent
from carelog.domain.fhir import codes as c
from carelog.domain.fhir import written as w

Resource = dict[str, Any]
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DOSE = re.compile(r"^(\d+(?:\.\d+)?)\s*([A-Za-z]+)$")


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a resource: ``event`` made it (its id, status, times and labels);
    ``content`` is the event whose payload it shows (a retraction shows what it retracts);
    ``logical_id`` is the first event of the chain, ``number`` its place in the chain."""

    event: PatientEvent
    content: PatientEvent
    logical_id: int
    number: int


def patient_resource_id(patient_id: str) -> str:
    """The Patient's FHIR id: the Carelog id itself when FHIR allows it (letters, digits, ``-``
    and ``.``), else ``cl-`` and 40 hex digits of its SHA-256 (``_`` and ``:`` are not allowed)."""
    if _FHIR_ID.match(patient_id):
        return patient_id
    return "cl-" + hashlib.sha256(patient_id.encode()).hexdigest()[:40]


def patient_resource(patient_id: str) -> Resource:
    """The Patient a patient id names: its FHIR id and the Carelog id as its identifier."""
    return {
        "resourceType": "Patient",
        "id": patient_resource_id(patient_id),
        "identifier": [{"system": c.PATIENT_IDENTIFIER, "value": patient_id}],
    }


class _Frame:
    """What every resource of one version shares: id, meta, identifier, subject, times."""

    def __init__(self, version: Version) -> None:
        self.version = version
        self.status = version.event.status
        self.retracted = self.status == c.RETRACTED
        self.subject = {"reference": f"Patient/{patient_resource_id(version.event.patient_id)}"}
        self.occurred = w.instant(version.content.occurred_at)
        self.recorded = w.instant(version.event.created_at)

    def base(self, resource_type: str, suffix: str = "") -> Resource:
        event = self.version.event
        meta: Resource = {"versionId": str(self.version.number), "lastUpdated": self.recorded}
        if event.labels:
            meta["security"] = [
                w.put({"system": c.ACT_CODE, "code": label}, display=c.SECURITY_LABELS.get(label))
                for label in sorted(event.labels)
            ]
        logical = str(self.version.logical_id)
        resource: Resource = {
            "resourceType": resource_type,
            "id": f"{logical}-{suffix}" if suffix else logical,
            "meta": meta,
            "identifier": [{"system": c.EVENT_IDENTIFIER, "value": str(event.id)}],
        }
        if self.status != c.FINAL and c.STATUS.get(resource_type, {}).get(self.status) is None:
            resource["extension"] = [{"url": c.STATUS_EXTENSION, "valueCode": self.status}]
        return resource

    def status_of(self, resource_type: str, own: str | None = None) -> str:
        """The resource's status element: its own value (from the payload) unless retracted."""
        row = c.STATUS[resource_type]
        if self.retracted:
            return row[c.RETRACTED] or c.RETRACTED
        return own or row.get(self.status) or row[c.FINAL] or "unknown"

    def observation(self, code: Resource, category: str | None, suffix: str = "") -> Resource:
        resource = self.base("Observation", suffix)
        resource["status"] = self.status_of("Observation")
        if category:
            resource["category"] = [w.concept([(c.OBSERVATION_CATEGORY, category, None)], None)]
        resource.update(code=code, subject=self.subject, effectiveDateTime=self.occurred)
        resource["issued"] = self.recorded
        return resource


Mapped = tuple[list[Resource], dict[str, Any]]  # the resources, and the payload fields left over


def _lab(frame: _Frame, lab: LabResult) -> Mapped:
    code = w.concept([(c.LOINC, lab.loinc, lab.test)], lab.test) or {"text": "Laboratory result"}
    obs = frame.observation(code, "survey" if lab.loinc in c.SURVEY_LOINCS else "laboratory")
    if isinstance(lab.value, str):
        obs["valueString"] = lab.value
    elif lab.value is not None:
        obs["valueQuantity"] = w.quantity(lab.value, lab.unit)
    if lab.reference_range is not None:
        bounds = lab.reference_range
        obs["referenceRange"] = [
            w.put(
                {},
                low=None if bounds.low is None else w.quantity(bounds.low, lab.unit),
                high=None if bounds.high is None else w.quantity(bounds.high, lab.unit),
                text=bounds.text,
            )
        ]
    if lab.flag is not None:
        code_, display = c.INTERPRETATIONS[lab.flag]
        obs["interpretation"] = [w.concept([(c.INTERPRETATION, code_, display)], None)]
    if lab.specimen:
        obs["specimen"] = {"display": lab.specimen}
    return [obs], dict(lab.model_extra or {})


def _sign_code(sign: c.Sign) -> Resource:
    codings = [(c.LOINC, sign.loinc, sign.display)]
    if sign.also is not None:
        codings.append((c.LOINC, *sign.also))
    return w.concept(codings, sign.display)


def _vitals(frame: _Frame, vitals: VitalSigns) -> Mapped:
    found: list[Resource] = []
    bp = vitals.blood_pressure
    if bp is not None:
        panel = frame.observation(
            _sign_code(c.BLOOD_PRESSURE), "vital-signs", c.BLOOD_PRESSURE.suffix
        )
        panel["component"] = [
            {"code": _sign_code(sign), "valueQuantity": w.quantity(value, bp.unit)}
            for sign, value in ((c.SYSTOLIC, bp.systolic), (c.DIASTOLIC, bp.diastolic))
        ]
        found.append(panel)
    for sign in c.SIGNS:
        measured: Quantity | None = getattr(vitals, sign.field)
        if measured is not None:
            obs = frame.observation(_sign_code(sign), "vital-signs", sign.suffix)
            obs["valueQuantity"] = w.quantity(measured.value, measured.unit)
            found.append(obs)
    return found, dict(vitals.model_extra or {})


def _triage(frame: _Frame, note: TriageNote) -> Mapped:
    loinc, display = c.TRIAGE_NOTE
    obs = frame.observation(w.concept([(c.LOINC, loinc, display)], display), None)
    if note.text:
        obs["valueString"] = note.text

    def part(code: str, value: Resource) -> Resource:
        return {"code": w.concept([(c.TRIAGE_SYSTEM, code, None)], None), **value}

    components = [part("symptom", {"valueString": symptom}) for symptom in note.symptoms or ()]
    if note.severity:
        severity = w.concept([(c.TRIAGE_SEVERITY_SYSTEM, note.severity, None)], None)
        components.append(part("severity", {"valueCodeableConcept": severity}))
    if note.disposition:
        components.append(part("disposition", {"valueString": note.disposition}))
    w.put(obs, component=components)
    return [obs], dict(note.model_extra or {})


def _statuses(
    frame: _Frame,
    resource: Resource,
    extra: dict[str, Any],
    clinical: str | None,
    verification: str | None,
) -> None:
    """clinicalStatus and verificationStatus; none of the first once entered in error
    (Condition con-5, AllergyIntolerance ait-2). A code R4 lacks takes its broader R4 code,
    and the exact one travels in the extra fields."""
    kind = resource["resourceType"]
    if frame.retracted:
        verification = c.RETRACTED
    if verification == c.RETRACTED:
        clinical = None
    if verification in c.VERIFICATION_R4:
        extra["verification_status"] = verification
        verification = c.VERIFICATION_R4[verification]
    w.put(
        resource,
        clinicalStatus=w.coded(c.CLINICAL_STATUS[kind], clinical),
        verificationStatus=w.coded(c.VERIFICATION_STATUS[kind], verification),
    )


def _condition(frame: _Frame, condition: Condition) -> Mapped:
    extra = dict(condition.model_extra or {})
    resource = frame.base("Condition")
    _statuses(frame, resource, extra, condition.clinical_status, condition.verification_status)
    codings = [(c.ICD10CM, condition.icd10, None), (c.SNOMED, condition.snomed, None)]
    w.put(resource, code=w.concept(codings, condition.name))
    resource.update(subject=frame.subject, recordedDate=frame.occurred)
    return [resource], extra


def _medication(frame: _Frame, med: Medication) -> Mapped:
    extra = dict(med.model_extra or {})
    resource = frame.base("MedicationStatement")
    resource["status"] = frame.status_of("MedicationStatement", med.status)
    reason_stopped, indication = extra.pop("reason_stopped", None), extra.pop("indication", None)
    if isinstance(reason_stopped, str) and reason_stopped:
        resource["statusReason"] = [{"text": reason_stopped}]
    elif reason_stopped is not None:
        extra["reason_stopped"] = reason_stopped
    medication = w.concept([(c.RXNORM, med.rxnorm, med.name)], med.name)
    resource["medicationCodeableConcept"] = medication or {"text": "Unnamed medication"}
    resource.update(subject=frame.subject, effectiveDateTime=frame.occurred)
    resource["dateAsserted"] = frame.recorded
    if isinstance(indication, str) and indication:
        resource["reasonCode"] = [{"text": indication}]
    elif indication is not None:
        extra["indication"] = indication
    parts = [part for part in (med.dose, med.route, med.frequency) if part]
    if parts:
        dosage = w.put(
            {"text": " ".join(parts)},
            route=None if med.route is None else {"text": med.route},
            timing=None if med.frequency is None else {"code": {"text": med.frequency}},
        )
        matched = _DOSE.match(med.dose or "")
        if matched and matched[2] in c.DOSE_UNITS:
            unit = c.DOSE_UNITS[matched[2]]
            dose = {"value": float(matched[1]), "unit": matched[2], "system": c.UCUM, "code": unit}
            dosage["doseAndRate"] = [{"doseQuantity": dose}]
        resource["dosage"] = [dosage]
    return [resource], extra


def _allergy(frame: _Frame, allergy: Allergy) -> Mapped:
    extra = dict(allergy.model_extra or {})
    resource = frame.base("AllergyIntolerance")
    # Carelog lists an allergy with no clinical status as active; FHIR needs it said (ait-1).
    clinical = allergy.clinical_status or "active"
    _statuses(frame, resource, extra, clinical, allergy.verification_status)
    w.put(resource, category=["medication"] if allergy.rxnorm else None)
    w.put(resource, criticality=allergy.criticality)
    codings = [(c.RXNORM, allergy.rxnorm, None), (c.SNOMED, allergy.snomed, None)]
    w.put(resource, code=w.concept(codings, allergy.substance))
    resource.update(patient=frame.subject, recordedDate=frame.occurred)
    if allergy.reaction:
        reaction = w.put({"manifestation": [{"text": allergy.reaction}]}, severity=allergy.severity)
        resource["reaction"] = [reaction]
    elif allergy.severity:  # a severity FHIR can only give a reaction
        extra["severity"] = allergy.severity
    return [resource], extra


def _encounter(frame: _Frame, encounter: Encounter) -> Mapped:
    extra = dict(encounter.model_extra or {})
    resource = frame.base("Encounter")
    resource["status"] = frame.status_of("Encounter")
    kind = "EMER" if (encounter.type or "").lower() in c.EMERGENCY_TYPES else "AMB"
    resource["class"] = {"system": c.ACT_CODE, "code": kind, "display": c.ENCOUNTER_CLASS[kind]}
    w.put(resource, type=[{"text": encounter.type}] if encounter.type else None)
    resource["subject"] = frame.subject
    period = {"start": frame.occurred if encounter.start is None else w.date_time(encounter.start)}
    if encounter.end is not None:
        period["end"] = w.date_time(encounter.end)
    resource["period"] = period
    w.put(resource, reasonCode=[{"text": encounter.reason}] if encounter.reason else None)
    if encounter.summary:  # R4's Encounter has no element for a summary
        extra["summary"] = encounter.summary
    return [resource], extra


def _document(frame: _Frame, document: Document) -> Mapped:
    resource = frame.base("DocumentReference")
    resource["status"] = frame.status_of("DocumentReference")
    resource["docStatus"] = c.DOC_STATUS.get(frame.status, c.DOC_STATUS[c.FINAL])
    w.put(resource, description=document.title)
    resource.update(subject=frame.subject, date=frame.occurred)
    attachment = {"contentType": document.content_type or "text/plain"}
    if document.text is not None:
        attachment["data"] = base64.b64encode(document.text.encode()).decode()
    w.put(attachment, title=document.title)
    resource["content"] = [{"attachment": attachment}]
    return [resource], dict(document.model_extra or {})


def _basic(frame: _Frame) -> Resource:
    event = frame.version.content
    resource = frame.base("Basic")
    payload = json.dumps(event.payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    resource.setdefault("extension", []).extend(
        [
            {"url": c.OCCURRED_EXTENSION, "valueDateTime": frame.occurred},
            {"url": c.PAYLOAD_EXTENSION, "valueString": payload},
        ]
    )
    code = w.concept([(c.EVENT_TYPE_SYSTEM, event.event_type, None)], event.event_type)
    resource.update(code=code, subject=frame.subject)
    resource["created"] = event.occurred_at.astimezone(UTC).date().isoformat()
    return resource


_MAPPERS: dict[str, Callable[[_Frame, Any], Mapped]] = {
    "lab_result": _lab,
    "vital_signs": _vitals,
    "triage_note": _triage,
    "medication": _medication,
    "condition": _condition,
    "allergy": _allergy,
    "encounter": _encounter,
    "document": _document,
}


def to_resources(version: Version) -> list[Resource]:
    """The resources one version of an event maps to (a vital signs event gives one per sign)."""
    frame = _Frame(version)
    content = version.content
    mapper, model = _MAPPERS.get(content.event_type), EVENT_TYPES.get(content.event_type)
    parsed: BaseModel | None = None
    if mapper is not None and model is not None:
        try:
            parsed = model.model_validate(content.payload)
        except ValidationError:
            parsed = None  # stored before its type was checked: kept whole, as Basic
    if mapper is None or parsed is None:
        return [_basic(frame)]
    resources, extra = mapper(frame, parsed)
    if not resources:  # vital signs with none of the named signs: kept whole
        return [_basic(frame)]
    if extra:
        text = json.dumps(extra, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        resources[0].setdefault("extension", []).append(
            {"url": c.EXTRA_EXTENSION, "valueString": text}
        )
    return resources


def event_resources(event: PatientEvent) -> list[Resource]:
    """An event on its own as the first version of its resources."""
    return to_resources(Version(event, event, event.id, 1))
