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

Import (``ingest``, ``readers``, ``bundles``, ``outcomes``) is the inverse, pure as well:
``read_resource`` validates a resource with ``fhir.resources`` (``validation``, the one module
that uses it, imported lazily) and reads it as an ``Imported`` event (resource type, id,
``meta.versionId``, a SHA-256 of its canonical JSON without ``meta``, the patient reference,
event type, payload, UTC clinical time, labels, Carelog status), an ``ImportedPatient``
(the ``urn:carelog:patient`` identifier, else the FHIR id, and every identifier) or a
``Rejected`` with its issues (a FHIRPath-like location, a message, an OperationOutcome code);
it never raises for bad input. Observations: triage note (54094-8), vital signs (one sign
each; ``merge_signs`` joins those of one exported event), laboratory and survey as lab
results; Condition, MedicationStatement and MedicationRequest (as ``medication``, its intent
kept), AllergyIntolerance, Encounter, DocumentReference (inline text only), Carelog's Basic.
Any other resource, or one no typed payload holds (a ratio value, a vital sign Carelog has no
field for), is the event ``fhir.<ResourceType>`` with the whole resource as payload. The
clinical time is tried in a documented order per type (Observation ``effective[x]``;
Condition and AllergyIntolerance ``recordedDate`` then onset; MedicationStatement
``effective[x]`` then ``dateAsserted``; MedicationRequest ``authoredOn``; Encounter
``period.start``; DocumentReference ``date``; others ``ingest.GENERIC_TIMES``); none is an
error, as are a time without zone and a year or month alone (a day alone is its midnight UTC).
``meta.security`` codes must be Carelog's v3-ActCode labels. What the export cannot say back:
a flag's spelling (``H`` reads as ``high``), a default (an allergy without clinical status
reads ``active``, a document without content type ``text/plain``, a blood pressure's
``mm[Hg]``), a retracted resource's status. ``read_bundle`` reads collection, batch and
transaction Bundles (POST or PUT entries) and resolves references by fullUrl;
``NdjsonReader``/``read_ndjson`` read NDJSON line by line; ``operation_outcome`` and
``response_bundle`` build the answers.
"""

from carelog.domain.fhir.bundles import BundleRead, Item, NdjsonReader, read_bundle, read_ndjson
from carelog.domain.fhir.history import bundle, current, history, versions
from carelog.domain.fhir.imported import (
    Imported,
    ImportedPatient,
    Issue,
    PatientRef,
    Read,
    Rejected,
)
from carelog.domain.fhir.ingest import content_hash, merge_signs, read_resource
from carelog.domain.fhir.outcomes import (
    LineTally,
    Outcome,
    ndjson_outcome,
    operation_outcome,
    response_bundle,
)
from carelog.domain.fhir.resources import (
    Resource,
    Version,
    event_resources,
    patient_resource,
    patient_resource_id,
    to_resources,
)

__all__ = [
    "BundleRead",
    "Imported",
    "ImportedPatient",
    "Issue",
    "Item",
    "LineTally",
    "NdjsonReader",
    "Outcome",
    "PatientRef",
    "Read",
    "Rejected",
    "Resource",
    "Version",
    "bundle",
    "content_hash",
    "current",
    "event_resources",
    "history",
    "merge_signs",
    "ndjson_outcome",
    "operation_outcome",
    "patient_resource",
    "patient_resource_id",
    "read_bundle",
    "read_ndjson",
    "read_resource",
    "response_bundle",
    "to_resources",
    "versions",
]
