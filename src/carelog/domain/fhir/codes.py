"""The mapping's tables: code systems, vital signs, interpretations, statuses, labels. Data only;
``domain.fhir.resources`` builds resources with them."""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# Scores of questionnaires, kept as lab results in Carelog: FHIR's category for them is
# survey, not laboratory (PHQ-9, PHQ-2 and GAD-7 total scores).
SURVEY_LOINCS = frozenset({"44261-6", "55758-7", "70274-6"})
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"

# Carelog's own identifiers and codes (the same event identifier system as audit_fhir).
EVENT_IDENTIFIER = "urn:carelog:event"
PATIENT_IDENTIFIER = "urn:carelog:patient"
EVENT_TYPE_SYSTEM = "urn:carelog:fhir:CodeSystem:event-type"
TRIAGE_SYSTEM = "urn:carelog:fhir:CodeSystem:triage"
TRIAGE_SEVERITY_SYSTEM = "urn:carelog:fhir:CodeSystem:triage-severity"
# Extensions: the whole payload of an event FHIR has no resource for (Basic); payload fields a
# resource has no element for; Carelog's status where the resource cannot say it; the event's
# clinical time where the resource only holds a date (Basic.created).
PAYLOAD_EXTENSION = "urn:carelog:fhir:StructureDefinition:event-payload"
EXTRA_EXTENSION = "urn:carelog:fhir:StructureDefinition:payload-extra"
STATUS_EXTENSION = "urn:carelog:fhir:StructureDefinition:event-status"
OCCURRED_EXTENSION = "urn:carelog:fhir:StructureDefinition:occurred-at"

# The v3 ActCode sensitivity labels Carelog knows (domain.scopes.SensitivityLabel).
SECURITY_LABELS: dict[str, str] = {
    "BH": "behavioral health information sensitivity",
    "ETH": "substance abuse information sensitivity",
    "HIV": "HIV/AIDS information sensitivity",
    "STD": "sexually transmitted disease information sensitivity",
    "GDIS": "genetic disease information sensitivity",
    "SEX": "sexuality and reproductive health information sensitivity",
}

# A lab result's flag -> v3 ObservationInterpretation (code, display). "critical" says no
# direction: AA, critical abnormal.
INTERPRETATIONS: dict[str, tuple[str, str]] = {
    "high": ("H", "High"),
    "H": ("H", "High"),
    "low": ("L", "Low"),
    "L": ("L", "Low"),
    "normal": ("N", "Normal"),
    "N": ("N", "Normal"),
    "abnormal": ("A", "Abnormal"),
    "A": ("A", "Abnormal"),
    "critical": ("AA", "Critical abnormal"),
    "HH": ("HH", "Critical high"),
    "LL": ("LL", "Critical low"),
}


@dataclass(frozen=True, slots=True)
class Sign:
    """A vital sign: the payload field, the suffix of its Observation's id, its LOINC code,
    and a second LOINC coding its R4 vital signs profile asks for (SpO2's 2708-6)."""

    field: str
    suffix: str
    loinc: str
    display: str
    also: tuple[str, str] | None = None


BLOOD_PRESSURE = Sign(
    "blood_pressure", "bp", "85354-9", "Blood pressure panel with all children optional"
)
SYSTOLIC = Sign("systolic", "", "8480-6", "Systolic blood pressure")
DIASTOLIC = Sign("diastolic", "", "8462-4", "Diastolic blood pressure")
SIGNS: tuple[Sign, ...] = (
    Sign("heart_rate", "hr", "8867-4", "Heart rate"),
    Sign("temperature", "temp", "8310-5", "Body temperature"),
    Sign(
        "spo2",
        "spo2",
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        ("2708-6", "Oxygen saturation in Arterial blood"),
    ),
    Sign("respiratory_rate", "rr", "9279-1", "Respiratory rate"),
    Sign("weight", "weight", "29463-7", "Body weight"),
    Sign("height", "height", "8302-2", "Body height"),
)
TRIAGE_NOTE = ("54094-8", "Emergency department Triage note")

# Carelog's event status -> each resource's status element. None: the resource has no status
# that says it, so the STATUS_EXTENSION does (a correction of a Condition, say). A resource type
# absent from a row has no status element at all (Basic) and always takes the extension.
FINAL, AMENDED, RETRACTED = "final", "amended", "entered-in-error"
STATUS: dict[str, dict[str, str | None]] = {
    "Observation": {FINAL: "final", AMENDED: "corrected", RETRACTED: "entered-in-error"},
    "Encounter": {FINAL: "finished", AMENDED: None, RETRACTED: "entered-in-error"},
    "DocumentReference": {FINAL: "current", AMENDED: "current", RETRACTED: "entered-in-error"},
    # The statement's own status comes from the payload (active, stopped...); "unknown" if none.
    "MedicationStatement": {FINAL: "unknown", AMENDED: None, RETRACTED: "entered-in-error"},
}
DOC_STATUS: dict[str, str] = {FINAL: "final", AMENDED: "amended", RETRACTED: "entered-in-error"}

# Clinical and verification statuses: Carelog keeps FHIR's codes, under these systems.
CLINICAL_STATUS = {
    "Condition": "http://terminology.hl7.org/CodeSystem/condition-clinical",
    "AllergyIntolerance": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
}
VERIFICATION_STATUS = {
    "Condition": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
    "AllergyIntolerance": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
}
# Verification codes Carelog takes that R4 lacks (R5's "presumed"): their broader R4 code.
VERIFICATION_R4 = {"presumed": "unconfirmed"}

# Encounter types that are emergency care (v3 ActCode EMER); every other is ambulatory (AMB).
EMERGENCY_TYPES = frozenset({"ed", "er", "emergency", "emergency department", "emergency room"})
ENCOUNTER_CLASS = {"EMER": "emergency", "AMB": "ambulatory"}

# Doses as "<number> <unit>" with these units become a UCUM doseQuantity beside the text.
DOSE_UNITS = {"mg": "mg", "g": "g", "mcg": "ug", "ug": "ug", "mL": "mL", "ml": "mL"}
