"""FHIR R4 out: a patient's record as a Bundle (``domain.fhir`` maps the events)."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Response

from carelog.api.deps import EventsRead, audited
from carelog.api.kit.responses import WITHHELD, WITHHELD_HEADER
from carelog.api.problems import problem_responses
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction
from carelog.domain.limits import PATIENT_ID_PATTERN, Timestamp
from carelog.services import fhir as fhir_service

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
