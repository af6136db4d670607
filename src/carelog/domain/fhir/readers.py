"""FHIR R4 resources read back as Carelog payloads: one reader per resource type, the inverse
of ``domain.fhir.resources`` (the choices are in the package's docstring). A reader gives
the event type, the payload, where the clinical time is (in order) and the Carelog status;
``None`` when the resource has no typed mapping (it is then kept whole as ``fhir.<Type>``)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from carelog.domain.fhir import codes as c
from carelog.domain.fhir.elements import (
    code_in,
    codings,
    display_in,
    dose_of,
    extensions,
    first,
    json_extension,
    quantity,
    text_of,
)
from carelog.domain.fhir.imported import Invalid

Resource = dict[str, Any]


@dataclass(slots=True)
class Mapped:
    """What a reader made of a resource: the event type and payload, the paths of its
    clinical time in the order they are tried, and the Carelog status."""

    event_type: str
    payload: dict[str, Any]
    times: tuple[str, ...]
    status: str = c.FINAL
    fields: dict[str, str] = field(default_factory=dict)  # payload field -> element path
    when: tuple[str, Any] | None = None  # a clinical time found elsewhere: (path, value)


Reader = Callable[[Resource], Mapped | None]

_FLAGS = {"H": "high", "L": "low", "N": "normal", "A": "abnormal", "AA": "critical"}
_FLAGS.update({"HH": "HH", "LL": "LL"})
_OBSERVATION_STATUS = {
    "final": c.FINAL,
    "amended": c.AMENDED,
    "corrected": c.AMENDED,
    "entered-in-error": c.RETRACTED,
}
OBSERVATION_TIMES = ("effectiveDateTime", "effectiveInstant", "effectivePeriod.start")
_LAB_FIELDS = {
    "loinc": "code.coding",
    "test": "code.text",
    "value": "value[x]",
    "unit": "valueQuantity.unit",
    "reference_range": "referenceRange[0]",
    "flag": "interpretation[0]",
    "specimen": "specimen.display",
}


def _put(payload: dict[str, Any], **values: Any) -> dict[str, Any]:
    payload.update({k: v for k, v in values.items() if v is not None})
    return payload


def _observation_status(resource: Resource) -> str:
    status = resource.get("status")
    if status not in _OBSERVATION_STATUS:
        raise Invalid(
            "Observation.status",
            f"status {status!r}: only final, amended, corrected or entered-in-error "
            "observations are imported",
            "not-supported",
        )
    return _OBSERVATION_STATUS[status]


def _lab(resource: Resource) -> Mapped | None:
    code = resource.get("code")
    loinc = code_in(code, c.LOINC)
    test = (code or {}).get("text") or display_in(code, c.LOINC)
    if test == "Laboratory result" and not codings(code):
        test = None  # the text the export gives a result that has neither
    payload = _put({}, loinc=loinc, test=test)
    if "valueQuantity" in resource:
        value, unit = quantity(resource["valueQuantity"], "Observation.valueQuantity")
        _put(payload, value=value, unit=unit)
    elif "valueString" in resource:
        payload["value"] = resource["valueString"]
    elif "valueInteger" in resource:
        payload["value"] = resource["valueInteger"]
    elif "valueCodeableConcept" in resource:
        _put(payload, value=text_of(resource["valueCodeableConcept"]))
    elif any(key.startswith("value") for key in resource):
        return None  # a ratio, a range, a boolean...: no lab value holds it, kept whole
    bounds = first(resource.get("referenceRange"))
    if isinstance(bounds, dict):
        payload["reference_range"] = _range(bounds, payload.get("unit"))
    flag = first(resource.get("interpretation"))
    if flag is not None:
        interpretation = code_in(flag, c.INTERPRETATION)
        if interpretation not in _FLAGS:
            raise Invalid(
                "Observation.interpretation[0]",
                f"interpretation {interpretation!r} is not one of {', '.join(_FLAGS)} "
                "(v3-ObservationInterpretation)",
                "code-invalid",
            )
        payload["flag"] = _FLAGS[interpretation]
    specimen = resource.get("specimen")
    if isinstance(specimen, dict):
        _put(payload, specimen=specimen.get("display"))
    status = _observation_status(resource)
    return Mapped("lab_result", payload, OBSERVATION_TIMES, status, _LAB_FIELDS)


def _range(bounds: Resource, unit: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for side in ("low", "high"):
        if side in bounds:
            where = f"Observation.referenceRange[0].{side}"
            value, bound_unit = quantity(bounds[side], where)
            if bound_unit is not None and unit is not None and bound_unit != unit:
                raise Invalid(where, f"the range is in {bound_unit}, the value in {unit}", "value")
            found[side] = value
    return _put(found, text=bounds.get("text"))


def _sign_of(resource: Resource) -> c.Sign | None:
    loincs = [x.get("code") for x in codings(resource.get("code")) if x.get("system") == c.LOINC]
    for sign in (c.BLOOD_PRESSURE, *c.SIGNS):
        if sign.loinc in loincs:
            return sign
    return None


def _vitals(resource: Resource) -> Mapped | None:
    sign = _sign_of(resource)
    if sign is None:
        return None  # a vital sign Carelog has no field for: kept whole
    fields = {sign.field: "valueQuantity"}
    if sign is c.BLOOD_PRESSURE:
        parts: dict[str, Any] = {}
        for at, component in enumerate(resource.get("component") or []):
            for part in (c.SYSTOLIC, c.DIASTOLIC):
                if code_in(component.get("code"), c.LOINC) == part.loinc:
                    where = f"Observation.component[{at}].valueQuantity"
                    value, unit = quantity(component.get("valueQuantity"), where)
                    parts[part.field] = value
                    if unit is not None:
                        parts["unit"] = unit
                    fields["blood_pressure"] = where
        if "systolic" not in parts or "diastolic" not in parts:
            raise Invalid(
                "Observation.component",
                "a blood pressure needs its systolic (8480-6) and diastolic (8462-4) components",
                "required",
            )
        payload: dict[str, Any] = {"blood_pressure": parts}
    else:
        value, unit = quantity(resource.get("valueQuantity"), "Observation.valueQuantity")
        payload = {sign.field: _put({"value": value}, unit=unit)}
    status = _observation_status(resource)
    return Mapped("vital_signs", payload, OBSERVATION_TIMES, status, fields)


def _triage(resource: Resource) -> Mapped:
    payload: dict[str, Any] = _put({}, text=resource.get("valueString"))
    symptoms = []
    for at, component in enumerate(resource.get("component") or []):
        part = code_in(component.get("code"), c.TRIAGE_SYSTEM)
        if part == "symptom":
            symptoms.append(component.get("valueString"))
        elif part == "severity":
            concept = component.get("valueCodeableConcept")
            payload["severity"] = code_in(concept, c.TRIAGE_SEVERITY_SYSTEM) or text_of(concept)
        elif part == "disposition":
            payload["disposition"] = component.get("valueString")
        else:
            raise Invalid(
                f"Observation.component[{at}].code",
                f"a triage note's parts are symptom, severity and disposition ({c.TRIAGE_SYSTEM})",
                "code-invalid",
            )
    if symptoms:
        payload["symptoms"] = symptoms
    fields = {"symptoms": "component", "severity": "component", "text": "valueString"}
    return Mapped("triage_note", payload, OBSERVATION_TIMES, _observation_status(resource), fields)


def observation(resource: Resource) -> Mapped | None:
    """A triage note (LOINC 54094-8), a vital sign (category vital-signs), a lab result
    (laboratory, or survey for questionnaire scores); any other is kept whole."""
    if code_in(resource.get("code"), c.LOINC) == c.TRIAGE_NOTE[0]:
        return _triage(resource)
    categories = {
        x.get("code")
        for concept in resource.get("category") or []
        for x in codings(concept)
        if x.get("system") == c.OBSERVATION_CATEGORY
    }
    if "vital-signs" in categories:
        return _vitals(resource)
    if categories & {"laboratory", "survey"}:
        return _lab(resource)
    return None


def _statuses(resource: Resource, payload: dict[str, Any]) -> str:
    """clinicalStatus and verificationStatus into the payload; the Carelog status (an
    entered-in-error verification is a retraction, not the payload's)."""
    kind = resource["resourceType"]
    clinical = code_in(resource.get("clinicalStatus"), c.CLINICAL_STATUS[kind])
    verification = code_in(resource.get("verificationStatus"), c.VERIFICATION_STATUS[kind])
    for element, value in (("clinicalStatus", clinical), ("verificationStatus", verification)):
        if resource.get(element) and value is None:
            systems = c.CLINICAL_STATUS if element == "clinicalStatus" else c.VERIFICATION_STATUS
            raise Invalid(
                f"{kind}.{element}", f"a code of {systems[kind]} is required", "code-invalid"
            )
    if verification == c.RETRACTED:
        _put(payload, clinical_status=clinical)
        return c.RETRACTED
    _put(payload, clinical_status=clinical, verification_status=verification)
    return c.FINAL


def condition(resource: Resource) -> Mapped:
    """A Condition: ICD-10-CM, SNOMED CT, name, statuses; its time is ``recordedDate``
    (when it was assessed, as the export writes it), else its onset."""
    code = resource.get("code")
    payload = _put(
        {}, icd10=code_in(code, c.ICD10CM), snomed=code_in(code, c.SNOMED), name=text_of(code)
    )
    status = _statuses(resource, payload)
    times = ("recordedDate", "onsetDateTime", "onsetPeriod.start")
    fields = {"icd10": "code.coding", "snomed": "code.coding", "name": "code.text"}
    fields.update(clinical_status="clinicalStatus", verification_status="verificationStatus")
    return Mapped("condition", payload, times, status, fields)


_MEDICATION_STATUS = {
    "active": "active",
    "completed": "completed",
    "stopped": "stopped",
    "on-hold": "on-hold",
    "intended": "intended",
    "draft": "intended",  # a MedicationRequest's
    "cancelled": "stopped",
    "unknown": None,
}


def _medication(resource: Resource, dosage_element: str, times: tuple[str, ...]) -> Mapped:
    kind = resource["resourceType"]
    if "medicationCodeableConcept" not in resource:
        raise Invalid(
            f"{kind}.medication[x]",
            "only medicationCodeableConcept is read (not a reference to a Medication)",
            "not-supported",
        )
    concept = resource["medicationCodeableConcept"]
    name = display_in(concept, c.RXNORM) or text_of(concept)
    payload = _put({}, rxnorm=code_in(concept, c.RXNORM))
    _put(payload, name=None if name == "Unnamed medication" else name)
    status_code = resource.get("status")
    status = c.FINAL
    if status_code == c.RETRACTED:
        status = c.RETRACTED
    elif status_code in _MEDICATION_STATUS:
        _put(payload, status=_MEDICATION_STATUS[status_code])
    else:
        raise Invalid(f"{kind}.status", f"status {status_code!r} is not read", "not-supported")
    dosage = first(resource.get(dosage_element))
    if isinstance(dosage, dict):
        route = text_of(dosage.get("route"))
        frequency = text_of((dosage.get("timing") or {}).get("code"))
        _put(payload, dose=dose_of(dosage, route, frequency), route=route, frequency=frequency)
    reason = resource.get("statusReason")
    _put(payload, reason_stopped=text_of(first(reason) if isinstance(reason, list) else reason))
    _put(payload, indication=text_of(first(resource.get("reasonCode"))))
    if kind == "MedicationRequest":
        _put(payload, intent=resource.get("intent"))
    fields = {"rxnorm": "medicationCodeableConcept.coding", "name": "medicationCodeableConcept"}
    fields.update(dose=f"{dosage_element}[0]", route=f"{dosage_element}[0].route")
    fields.update(frequency=f"{dosage_element}[0].timing", status="status")
    return Mapped("medication", payload, times, status, fields)


def medication_statement(resource: Resource) -> Mapped:
    """A MedicationStatement: its time is ``effective[x]``, else ``dateAsserted``."""
    times = ("effectiveDateTime", "effectivePeriod.start", "dateAsserted")
    return _medication(resource, "dosage", times)


def medication_request(resource: Resource) -> Mapped:
    """A MedicationRequest, as a medication (its intent kept): its time is ``authoredOn``."""
    times = ("authoredOn", "dispenseRequest.validityPeriod.start")
    return _medication(resource, "dosageInstruction", times)


def allergy(resource: Resource) -> Mapped:
    """An AllergyIntolerance: its time is ``recordedDate``, else its onset."""
    code = resource.get("code")
    payload = _put({}, substance=text_of(code), rxnorm=code_in(code, c.RXNORM))
    _put(payload, snomed=code_in(code, c.SNOMED), criticality=resource.get("criticality"))
    status = _statuses(resource, payload)
    reaction = first(resource.get("reaction"))
    if isinstance(reaction, dict):
        manifestation = text_of(first(reaction.get("manifestation")))
        _put(payload, reaction=manifestation, severity=reaction.get("severity"))
    times = ("recordedDate", "onsetDateTime", "onsetPeriod.start", "lastOccurrence")
    fields = {"substance": "code", "rxnorm": "code.coding", "snomed": "code.coding"}
    fields.update(reaction="reaction[0]", severity="reaction[0].severity")
    fields.update(clinical_status="clinicalStatus", verification_status="verificationStatus")
    return Mapped("allergy", payload, times, status, fields)


def encounter(resource: Resource) -> Mapped:
    """An Encounter: type, reason, period; its time is ``period.start``. A status other than
    finished or entered-in-error (in-progress...) is kept in the payload as ``status``."""
    payload = _put({}, type=text_of(first(resource.get("type"))))
    _put(payload, reason=text_of(first(resource.get("reasonCode"))))
    period = resource.get("period") or {}
    _put(payload, start=period.get("start"), end=period.get("end"))
    status = resource.get("status")
    if status not in ("finished", c.RETRACTED, None):
        payload["status"] = status
    status = c.RETRACTED if status == c.RETRACTED else c.FINAL
    fields = {"type": "type[0]", "reason": "reasonCode[0]", "start": "period.start"}
    fields["end"] = "period.end"
    return Mapped("encounter", payload, ("period.start",), status, fields)


def document(resource: Resource) -> Mapped:
    """A DocumentReference with its text inline (``attachment.data``, base64 of UTF-8); its
    time is ``date``, else ``context.period.start``."""
    status = resource.get("status")
    if status == "superseded":
        raise Invalid(
            "DocumentReference.status", "a superseded document is not read", "not-supported"
        )
    attachment = (first(resource.get("content")) or {}).get("attachment") or {}
    where = "DocumentReference.content[0].attachment"
    if "data" not in attachment:
        raise Invalid(
            f"{where}.data", "only a document with its text inline is read", "not-supported"
        )
    try:
        text = base64.b64decode(attachment["data"], validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise Invalid(f"{where}.data", "the data must be UTF-8 text in base64", "value") from None
    title = resource.get("description") or attachment.get("title")
    payload = _put({}, title=title, content_type=attachment.get("contentType"), text=text)
    if status == c.RETRACTED:
        retraction = c.RETRACTED
    else:
        retraction = c.AMENDED if resource.get("docStatus") == "amended" else c.FINAL
    fields = {
        "title": "description",
        "content_type": f"{where}.contentType",
        "text": f"{where}.data",
    }
    return Mapped("document", payload, ("date", "context.period.start"), retraction, fields)


def basic(resource: Resource) -> Mapped | None:
    """A Basic the export made of an event (coded in Carelog's event-type system, its payload
    in an extension); any other Basic is kept whole."""
    event_type = code_in(resource.get("code"), c.EVENT_TYPE_SYSTEM)
    if event_type is None:
        return None
    payload = json_extension(resource, c.PAYLOAD_EXTENSION)
    if payload is None:
        raise Invalid("Basic.extension", f"the event's payload ({c.PAYLOAD_EXTENSION})", "required")
    when = None
    for at, extension in extensions(resource, c.OCCURRED_EXTENSION):
        when = (f"extension[{at}].valueDateTime", extension.get("valueDateTime"))
    return Mapped(event_type, payload, ("created",), c.FINAL, when=when)


READERS: dict[str, Reader] = {
    "Observation": observation,
    "Condition": condition,
    "MedicationStatement": medication_statement,
    "MedicationRequest": medication_request,
    "AllergyIntolerance": allergy,
    "Encounter": encounter,
    "DocumentReference": document,
    "Basic": basic,
}
