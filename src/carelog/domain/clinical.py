"""Typed clinical event kinds: what a known event type's payload may hold.

Every field is optional (agents often know only part of a fact) and unknown fields are kept,
but a field that is present must have the right shape: codes match their systems' formats
(LOINC, RxNorm, ICD-10-CM, SNOMED CT), numbers are numbers, statuses come from their value
sets. Event types not listed here stay free JSON (the seed's contract), or follow the JSON
Schema their tenant registered (``tenant_schemas``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from carelog.errors import ValidationFailed

Text = Annotated[str, StringConstraints(max_length=10_000)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Loinc = Annotated[str, StringConstraints(pattern=r"^\d{1,7}-\d$")]
RxNorm = Annotated[str, StringConstraints(pattern=r"^\d{1,10}$")]
Icd10 = Annotated[str, StringConstraints(pattern=r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")]
Snomed = Annotated[str, StringConstraints(pattern=r"^\d{6,18}$")]
MAX_EXTRA_SIGNS = 32
Ucum = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[^\s]+$")]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)


class Quantity(_Payload):
    """A measured value with its UCUM unit."""

    value: float
    unit: Ucum | None = None


class ReferenceRange(_Payload):
    """The normal range of a lab test."""

    low: float | None = None
    high: float | None = None
    text: Short | None = None


class LabResult(_Payload):
    """A laboratory result, e.g. HbA1c (LOINC 4548-4) 8.4 %, flagged high."""

    loinc: Loinc | None = Field(default=None, description="LOINC code, e.g. 4548-4")
    test: Short | None = Field(default=None, description="The test's name, e.g. HbA1c")
    value: float | Short | None = None
    unit: Ucum | None = Field(default=None, description="UCUM unit, e.g. %, mg/dL")
    reference_range: ReferenceRange | None = None
    flag: (
        Literal["high", "low", "normal", "abnormal", "critical", "H", "L", "N", "A", "HH", "LL"]
        | None
    ) = Field(default=None, description="Interpretation flag")
    specimen: Short | None = None


class BloodPressure(_Payload):
    """Systolic over diastolic, mm[Hg] unless stated."""

    systolic: float = Field(gt=0, lt=400)
    diastolic: float = Field(gt=0, lt=300)
    unit: Ucum | None = "mm[Hg]"


class VitalSigns(_Payload):
    """A set of vital signs taken together."""

    blood_pressure: BloodPressure | None = None
    heart_rate: Quantity | None = Field(default=None, description="beats per minute (/min)")
    temperature: Quantity | None = Field(default=None, description="Cel or [degF]")
    spo2: Quantity | None = Field(default=None, description="oxygen saturation, %")
    respiratory_rate: Quantity | None = Field(default=None, description="breaths per minute")
    weight: Quantity | None = Field(default=None, description="kg or [lb_av]")
    height: Quantity | None = Field(default=None, description="cm or [in_i]")

    @model_validator(mode="after")
    def _few_measurements(self) -> VitalSigns:
        # Each measurement is indexed for the context (migration 0014): bound them.
        extra = self.model_extra or {}
        if len(extra) > MAX_EXTRA_SIGNS:
            raise ValueError(f"at most {MAX_EXTRA_SIGNS} fields besides the named signs")
        return self


class TriageNote(_Payload):
    """An intake or triage note: symptoms, severity, free text, disposition."""

    symptoms: list[Short] | None = Field(default=None, max_length=100)
    severity: Literal["low", "mild", "moderate", "high", "severe", "critical"] | None = None
    text: Text | None = None
    disposition: Short | None = Field(default=None, description="e.g. escalate to clinician")


class Medication(_Payload):
    """A medication the patient takes or took."""

    rxnorm: RxNorm | None = Field(default=None, description="RxNorm concept id")
    name: Short | None = None
    dose: Short | None = Field(default=None, description="e.g. 500 mg")
    route: Short | None = Field(default=None, description="e.g. oral")
    frequency: Short | None = Field(default=None, description="e.g. twice daily")
    status: Literal["active", "stopped", "completed", "on-hold", "intended"] | None = None


VerificationStatus = Literal[
    "unconfirmed",
    "presumed",
    "provisional",
    "differential",
    "confirmed",
    "refuted",
    "entered-in-error",
]


class Condition(_Payload):
    """A problem or diagnosis, coded in ICD-10-CM and/or SNOMED CT. A refuted one (or one
    whose clinical status is inactive, in remission or resolved) is not listed as active."""

    icd10: Icd10 | None = Field(default=None, description="ICD-10-CM, e.g. E11.9")
    snomed: Snomed | None = Field(default=None, description="SNOMED CT concept id")
    name: Short | None = None
    clinical_status: (
        Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved"] | None
    ) = None
    verification_status: VerificationStatus | None = Field(
        default=None, description="FHIR Condition.verificationStatus"
    )


class Allergy(_Payload):
    """An allergy or intolerance. As FHIR AllergyIntolerance: a clinical status (an inactive
    or resolved one is no longer listed) and a verification status (a refuted one is not
    listed; unconfirmed and presumed ones say so), so that one can be resolved or refuted
    without being called an error."""

    substance: Short | None = None
    rxnorm: RxNorm | None = Field(default=None, description="RxNorm of a drug allergen")
    snomed: Snomed | None = Field(default=None, description="SNOMED CT of the allergen")
    reaction: Short | None = None
    severity: Literal["mild", "moderate", "severe"] | None = None
    clinical_status: Literal["active", "inactive", "resolved"] | None = None
    verification_status: (
        Literal["unconfirmed", "presumed", "confirmed", "refuted", "entered-in-error"] | None
    ) = None
    criticality: Literal["low", "high", "unable-to-assess"] | None = None


class Encounter(_Payload):
    """A visit or encounter and its summary."""

    type: Short | None = Field(default=None, description="e.g. office visit, ED")
    reason: Short | None = None
    start: datetime | date | None = None
    end: datetime | date | None = None
    summary: Text | None = None


class Document(_Payload):
    """A clinical document's text."""

    title: Short | None = None
    content_type: Short | None = Field(default=None, description="e.g. text/plain")
    text: Text | None = None


class AgentDecision(_Payload):
    """What an agent decided, why, and on which events it relied."""

    agent: Short | None = None
    action: Short | None = Field(default=None, description="e.g. escalate, approve, defer")
    rationale: Text | None = None
    relied_on: list[Annotated[int, Field(ge=1)]] | None = Field(
        default=None, max_length=1000, description="ids of the events it relied on"
    )
    model: Short | None = Field(default=None, description="the model that decided")
    context_as_of: datetime | None = Field(
        default=None,
        description="The as_of of the context the agent read (GET /patients/{id}/context): "
        "asking for the context at that time again replays exactly what it saw.",
    )
    context_query: dict[str, Any] | None = Field(
        default=None, description="The other context parameters it used (types, since, ...)."
    )


WORKFLOW_TRANSITION = "workflow_transition"


class WorkflowTransition(_Payload):
    """One transition of a workflow case (an escalation, a prior-authorization case, a care
    task): written by the service itself, never by a client, so that replaying a case's
    transitions rebuilds it. Who and when are the event's own ``recorded_by`` and
    ``occurred_at``."""

    workflow: Short
    case_id: Short
    action: Short
    from_: Short | None = Field(default=None, alias="from")
    to: Short
    reason: Text | None = None
    note: Text | None = None
    changes: dict[str, Any] = Field(default_factory=dict)


# Types only the service writes: a client's event, correction or retraction of one is refused.
SYSTEM_EVENT_TYPES = frozenset({WORKFLOW_TRANSITION})


EVENT_TYPES: dict[str, type[_Payload]] = {
    "lab_result": LabResult,
    "vital_signs": VitalSigns,
    "triage_note": TriageNote,
    "medication": Medication,
    "condition": Condition,
    "allergy": Allergy,
    "encounter": Encounter,
    "document": Document,
    "agent_decision": AgentDecision,
    WORKFLOW_TRANSITION: WorkflowTransition,
}


def check_payload(event_type: str, payload: dict[str, Any]) -> None:
    """Check a known type's payload (unknown types are free JSON); a
    :class:`ValidationFailed` names each failing field as ``payload.<path>``."""
    model = EVENT_TYPES.get(event_type)
    if model is None:
        return
    try:
        model.model_validate(payload)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(["payload", *(str(part) for part in error["loc"])]),
                "location": "body",
                "message": error["msg"],
                "type": error["type"],
            }
            for error in exc.errors(include_input=False, include_url=False)
        ]
        names = ", ".join(e["field"] for e in errors)
        raise ValidationFailed(f"Invalid {event_type} payload: {names}.", errors=errors) from None


def describe_event_types() -> list[dict[str, Any]]:
    """Every known type with its JSON Schema (for GET /event-types)."""
    return [
        {"event_type": name, "description": model.__doc__, "schema": model.model_json_schema()}
        for name, model in EVENT_TYPES.items()
    ]
