"""FHIR Bulk Data: NDJSON in (``POST /fhir/$import``, the body streamed) and out (the
asynchronous ``$export`` of the Bulk Data specification: kick-off, status, files, cancel)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response

from carelog.api.deps import EventsWrite, audited
from carelog.api.routing import JsonRoute, streamed
from carelog.domain.audit import AuditAction
from carelog.errors import UnsupportedMediaType
from carelog.services.fhir import ndjson

FHIR_JSON = "application/fhir+json"
NDJSON_TYPES = frozenset({"application/fhir+ndjson", "application/x-ndjson", "application/ndjson"})
_OUTCOME = {FHIR_JSON: {"schema": {"type": "object"}}}

router = APIRouter(tags=["fhir"], route_class=JsonRoute)


@router.post(
    "/fhir/$import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "description": "A FHIR resource a line."}}
                for media in sorted(NDJSON_TYPES)
            },
        }
    },
    responses={
        200: {
            "content": _OUTCOME,
            "description": "An OperationOutcome: an error issue per issue of each failed line "
            "(`diagnostics` `line 7: ...`, `expression` the element, e.g. "
            "`Observation.subject`), an information issue per other line (`line 3: created "
            "Observation/r1/_history/1`; up to 10,000 lines named), and the summary (`3 "
            "created, 1 unchanged, 2 failed`).",
        },
        413: {
            "content": _OUTCOME,
            "description": "The body went over the limit (CARELOG_FHIR_IMPORT_MAX_BYTES) as it "
            "was read: the lines before the batch that crossed it are stored, as said; the "
            "rest was not read. (A declared Content-Length over the limit is refused before "
            "anything is read, as a problem.)",
        },
    },
)
@audited(AuditAction.CREATE)
@streamed
async def import_fhir_ndjson(request: Request, caller: EventsWrite) -> Response:
    """Import FHIR R4 resources as Bulk Data NDJSON (`application/fhir+ndjson`), one a line,
    into the caller's tenant. The body is read as it arrives, past the usual body limit (up
    to CARELOG_FHIR_IMPORT_MAX_BYTES), and stored in batches of 1,000 lines, a transaction
    each. Line by line, as a batch Bundle: each line is created, corrected (a new version of
    a resource imported before), unchanged or failed on its own, and a broken line fails
    alone while the lines around it are stored. Re-importing is safe: stored lines come back
    unchanged."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in NDJSON_TYPES:
        raise UnsupportedMediaType("Send the resources as application/fhir+ndjson.")
    async with caller.work() as work:
        answer = await ndjson.import_ndjson(
            work, request.stream(), max_bytes=caller.settings.fhir_import_max_bytes
        )
    return Response(orjson.dumps(answer.body), status_code=answer.status, media_type=FHIR_JSON)
