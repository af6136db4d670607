"""Carelog's events as FHIR R4 resources: a pure mapping to plain dicts (no FHIR library at
run time; the tests validate the output with ``fhir.resources``' R4B models, which are R4's
for these resources).

What each event type becomes (the tables are in ``codes``):

- ``lab_result``: an Observation, category ``laboratory`` (``survey`` for the questionnaire
  scores of ``codes.SURVEY_LOINCS``, such as PHQ-9), code LOINC with the test's name as
  display and text (Carelog has no LOINC table, so the display is the name as reported, not
  LOINC's long name; "Laboratory result" as text when neither is given), ``valueQuantity``
  with the UCUM unit as ``unit``, ``system`` and ``code`` (a text value: ``valueString``),
  ``referenceRange`` in the same unit, ``interpretation`` from the flag in
  v3-ObservationInterpretation (high/H -> H, low/L -> L, normal/N -> N, abnormal/A -> A,
  HH, LL, and critical -> AA), ``specimen`` as a display-only reference.
- ``vital_signs``: one Observation per sign, category ``vital-signs``, ids
  ``<event>-<sign>``: blood pressure as the 85354-9 panel with 8480-6 and 8462-4 components,
  heart rate 8867-4, temperature 8310-5, SpO2 59408-5 (and 2708-6, which R4's oxygen
  saturation profile asks for), respiratory rate 9279-1, weight 29463-7, height 8302-2. A
  vital signs event with none of these signs is kept as Basic.
- ``triage_note``: an Observation coded LOINC 54094-8 (triage note), no category, the text as
  ``valueString`` and one component per fact, coded in ``urn:carelog:fhir:CodeSystem:triage``:
  ``symptom`` (valueString, one per symptom), ``severity`` (valueCodeableConcept in
  ``urn:carelog:fhir:CodeSystem:triage-severity``, Carelog's codes) and ``disposition``
  (valueString), so an import reads them back one to one.
- ``condition``: a Condition with ICD-10-CM and SNOMED CT codings and the name as text,
  clinicalStatus and verificationStatus in their HL7 code systems (R5's ``presumed``, which
  Carelog takes, is R4's ``unconfirmed``, the exact code kept in the extra fields, below).
  The event's time is ``recordedDate``: Carelog records when a condition was assessed (a
  remission, a relapse), which is not its onset.
- ``medication``: a MedicationStatement: RxNorm coding with the name, status from the payload
  (``unknown`` if none), ``effectiveDateTime``, ``dateAsserted`` (the recorded time), one
  dosage with the text "<dose> <route> <frequency>", route and timing as text, and a UCUM
  ``doseQuantity`` when the dose is "<number> mg|g|mcg|mL". The synthetic population's
  ``indication`` and ``reason_stopped`` become ``reasonCode`` and ``statusReason``.
- ``allergy``: an AllergyIntolerance: RxNorm or SNOMED CT coding with the substance as text,
  category ``medication`` for an RxNorm allergen, clinical and verification status
  (``presumed`` as for a condition; no clinical status reads as ``active``, as Carelog lists
  it, since FHIR requires one), criticality, ``recordedDate``, and a reaction with the
  manifestation as text and severity.
- ``encounter``: an Encounter, status ``finished``, class v3 ActCode EMER for an ED or
  emergency type and AMB otherwise (urgent care is ambulatory), type and reasonCode as text,
  ``period`` from the payload's start and end (start defaults to the event's time; a time
  without zone is read as UTC).
- ``document``: a DocumentReference, status ``current``, docStatus final or amended, the title
  as description, ``date`` the event's time, one attachment with the text UTF-8 in base64 as
  ``data`` and its content type (``text/plain`` by default).
- ``agent_decision``, free-JSON types, and a typed event whose payload does not pass its
  type's schema (stored before types were checked): a Basic coded with the event type in
  ``urn:carelog:fhir:CodeSystem:event-type``, ``created`` the event's date, and two
  extensions: the event's time (``...:occurred-at``, valueDateTime) and its whole payload as
  canonical JSON (``...:event-payload``, valueString).

Every resource: the id is the event id (of the first event of a correction chain; a vital
sign adds its suffix), ``meta.versionId`` the place in the chain (1 for the original),
``meta.lastUpdated`` the recorded time, ``meta.security`` the event's sensitivity labels in
v3-ActCode (BH...), an identifier ``urn:carelog:event|<event id>`` naming the event of this
version, the subject (``patient`` for AllergyIntolerance) ``Patient/<id>``. Payload fields a
resource has no element for (unknown fields, an encounter's summary, a severity without a
reaction) travel in the first resource's ``...:payload-extra`` extension as JSON, so nothing is
lost. A Patient's id is the Carelog patient id when FHIR allows it, else ``cl-`` and a hash;
its identifier ``urn:carelog:patient|<id>`` keeps the original.

Corrections and retractions: a correction is the next version of the same resource, an
Observation's status ``corrected``, a DocumentReference's docStatus ``amended``; a retraction
is the next version showing the retracted content with status ``entered-in-error`` (Condition
and AllergyIntolerance: verificationStatus ``entered-in-error`` and no clinicalStatus, as
con-5 and ait-2 require). Where the resource has no status that says it (a corrected
Condition, MedicationStatement, Encounter, AllergyIntolerance; Basic always), the
``...:event-status`` extension carries Carelog's status (``amended``, ``entered-in-error``). A
correction that drops a vital sign retracts that sign's Observation. Not carried: the event's
source, recorder and a correction's reason.
"""

from carelog.domain.fhir.history import bundle, current, history, versions
from carelog.domain.fhir.resources import (
    Resource,
    Version,
    event_resources,
    patient_resource,
    patient_resource_id,
    to_resources,
)

__all__ = [
    "Resource",
    "Version",
    "bundle",
    "current",
    "event_resources",
    "history",
    "patient_resource",
    "patient_resource_id",
    "to_resources",
    "versions",
]
