"""FHIR R4 out, a patient's record as a Bundle, and in, a Bundle of resources to record
(``domain.fhir`` maps the events both ways)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from carelog.api.deps import EventsRead, EventsWrite, audited
from carelog.api.kit.responses import WITHHELD, WITHHELD_HEADER
from carelog.api.problems import problem_responses
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction
from carelog.domain.limits import PATIENT_ID_PATTERN, Timestamp
from carelog.services import fhir as fhir_service
from carelog.services.fhir import ingest

FHIR_JSON = "application/fhir+json"
_FHIR_OBJECT = {FHIR_JSON: {"schema": {"type": "object"}}}

router = APIRouter(tags=["fhir"], route_class=JsonRoute)


@router.get(
    "/patients/{patient_id}/fhir",
    responses={
        200: {
            "content": {"application/fhir+json": {"schema": {"type": "object"}}},
            "description": "A FHIR R4 Bundle: the Patient, then the current version of each "
            "resource its events map to.",
            "headers": WITHHELD,
        },
        **problem_responses(404),
    },
)
@audited(AuditAction.READ)
async def patient_fhir(
    caller: EventsRead,
    patient_id: Annotated[str, Path(pattern=PATIENT_ID_PATTERN)],
    bundle_type: Annotated[
        Literal["searchset", "collection"],
        Query(alias="type", description="The Bundle's type: a search's answer, or a collection."),
    ] = "searchset",
    as_of: Annotated[
        Timestamp | None,
        Query(
            description="The record as it was recorded by that time (corrections after it "
            "left out)."
        ),
    ] = None,
) -> Response:
    """The patient's current record as a FHIR R4 Bundle (Observation, Condition,
    MedicationStatement, AllergyIntolerance, Encounter, DocumentReference, Basic): retracted
    events left out, corrected ones at their latest version (``meta.versionId``), sensitivity
    labels in ``meta.security``; what the key may not see is withheld and counted."""
    async with caller.work() as work:
        found = await fhir_service.patient_bundle(work, patient_id, as_of=as_of, kind=bundle_type)
    headers = {WITHHELD_HEADER: str(found.withheld)} if found.withheld else None
    body = orjson.dumps(found.render())
    return Response(body, media_type="application/fhir+json", headers=headers)


class FhirBundle(BaseModel):
    """A FHIR R4 Bundle to import: its type and entries (each entry's resource is checked
    against R4 and Carelog's mapping as it is imported, entry by entry)."""

    model_config = ConfigDict(extra="allow")

    resource_type: Literal["Bundle"] = Field(alias="resourceType")
    type: Literal["collection", "batch", "transaction"] = Field(
        description="transaction: all or nothing; batch and collection: entry by entry."
    )
    entry: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The entries (at most the service's CARELOG_FHIR_MAX_BUNDLE_ENTRIES, "
        "10,000 by default): a resource each, with its request (POST <type> or PUT "
        "<type>/<id>) in a batch or transaction.",
    )


@router.post(
    "/fhir",
    openapi_extra={
        "requestBody": {
            "content": {
                FHIR_JSON: {"schema": {"$ref": "#/components/schemas/FhirBundle"}},
            }
        }
    },
    responses={
        200: {
            "content": _FHIR_OBJECT,
            "description": "A batch-response or transaction-response Bundle (an entry's "
            "response per entry: 201 created, 200 corrected or unchanged, 4xx failed with "
            "its OperationOutcome), or for a collection an OperationOutcome: an issue per "
            "failed entry and a summary (`3 created, 1 unchanged, 0 failed`).",
        },
        400: {
            "content": _FHIR_OBJECT,
            "description": "A transaction with an entry that could not be read or stored: an "
            "OperationOutcome naming it (`expression`: `Bundle.entry[3].resource...`); "
            "nothing was stored.",
        },
    },
)
@audited(AuditAction.CREATE)
async def import_fhir_bundle(bundle: FhirBundle, caller: EventsWrite) -> Response:
    """Import a FHIR R4 Bundle (collection, batch or transaction) into the caller's tenant:
    each resource becomes an event (Observation, Condition, MedicationStatement and
    MedicationRequest, AllergyIntolerance, Encounter, DocumentReference as Carelog's typed
    events, any other as `fhir.<ResourceType>`), a Patient registers its identifiers. A
    resource imported before is unchanged (same versionId or content) or corrected (a new
    version of its event); `meta.security` gives the sensitivity labels."""
    body = {"resourceType": "Bundle", "type": bundle.type, "entry": bundle.entry}
    async with caller.work() as work:
        answer = await ingest.import_bundle(
            work, body, max_entries=caller.settings.fhir_max_bundle_entries
        )
    return Response(orjson.dumps(answer.body), status_code=answer.status, media_type=FHIR_JSON)
