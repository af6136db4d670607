"""FHIR Bulk Data: NDJSON in (``POST /fhir/$import``, the body streamed) and out (the
asynchronous ``$export`` of the Bulk Data specification: kick-off, status, files, cancel)."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from carelog.api.deps import EventsRead, EventsWrite, audited, runtime
from carelog.api.routing import JsonRoute, streamed
from carelog.domain.audit import AuditAction
from carelog.domain.fhir import Issue
from carelog.domain.fhir.export import EXPORT_TYPES, ExportRequest, manifest, read_kickoff
from carelog.domain.limits import Timestamp
from carelog.errors import UnsupportedMediaType
from carelog.services.fhir import export, ndjson

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
    settings = caller.settings
    async with caller.work() as work:
        answer = await ndjson.import_ndjson(
            work,
            request.stream(),
            max_bytes=settings.fhir_import_max_bytes,
            executor=runtime(request).fhir_readers,
            parts=max(1, settings.fhir_import_processes),
        )
    return Response(orjson.dumps(answer.body), status_code=answer.status, media_type=FHIR_JSON)


# The export's addresses (Bulk Data: the status URL is the kick-off's Content-Location).
STATUS = "/fhir/$export-status/{job_id}"
FILES = "/fhir/$export-files/{job_id}/{resource_type}/{part}"
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The export job's id.")]
_RETRY_SECONDS = "1"


def _outcome(
    status: int, severity: str, issues: list[Issue], headers: dict[str, str] | None = None
) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": issue.code,
                "diagnostics": issue.message,
                **({"expression": [issue.location]} if issue.location else {}),
            }
            for issue in issues
        ],
    }
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def _told(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An informational OperationOutcome (a 202's body, which Bulk Data allows)."""
    return _outcome(status, "information", [Issue("", message, "informational")], headers)


_KICKOFF_RESPONSES: dict[int | str, dict[str, object]] = {
    202: {
        "content": _OUTCOME,
        "description": "The export is queued: poll `Content-Location` (an informational "
        "OperationOutcome).",
        "headers": {
            "Content-Location": {
                "description": "The status URL.",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    },
    400: {
        "content": _OUTCOME,
        "description": "An OperationOutcome: no `Prefer: respond-async`.",
    },
}


_TYPE = "(" + "|".join(sorted(EXPORT_TYPES)) + ")"
OutputFormat = Annotated[
    Literal["application/fhir+ndjson", "application/ndjson", "ndjson"] | None,
    Query(alias="_outputFormat", description="NDJSON (the default and the only one)."),
]
Since = Annotated[
    Timestamp | None,
    Query(alias="_since", description="Only resources recorded (meta.lastUpdated) after this."),
]
Types = Annotated[
    str | None,
    Query(
        alias="_type",
        pattern=f"^{_TYPE}(,{_TYPE})*$",
        max_length=1000,
        description="Only these resource types, comma-separated (Patient,Observation...).",
    ),
]
_PREFER = {
    "parameters": [
        {
            "name": "Prefer",
            "in": "header",
            "required": True,
            "description": "The export is asynchronous: `respond-async` (else 400).",
            "schema": {"type": "string", "pattern": "^respond-async$"},
        }
    ]
}


@router.get(
    "/fhir/$export",
    status_code=202,
    response_class=Response,
    responses=_KICKOFF_RESPONSES,
    openapi_extra=_PREFER,
)
@router.get(
    "/fhir/Patient/$export",
    status_code=202,
    response_class=Response,
    responses=_KICKOFF_RESPONSES,
    openapi_extra=_PREFER,
)
@audited(AuditAction.EXECUTE)
async def export_kick_off(
    request: Request,
    caller: EventsRead,
    output_format: OutputFormat = None,
    since: Since = None,
    types: Types = None,
) -> Response:
    """Bulk Data export kick-off: everything the caller may see (its patients, its labels)
    as FHIR R4 NDJSON, files per resource type, made in the background. Send `Prefer:
    respond-async`; the answer is 202 with the status URL in `Content-Location`, for this
    principal only. `/fhir/$export` (system level) and `/fhir/Patient/$export` (every
    patient's compartment) hold the same: every Carelog resource is a patient's."""
    read = read_kickoff(
        prefer=request.headers.get("prefer"),
        output_format=output_format,
        since=None if since is None else since.isoformat(),
        types=types,
    )
    if not isinstance(read, ExportRequest):
        return _outcome(400, "error", read)
    async with caller.work() as work:
        job = await export.kick_off(work, read, request_url=str(request.url))
    location = str(request.url_for("export_status", job_id=job.id))
    return _told(
        202, "The export is queued: poll Content-Location.", {"Content-Location": location}
    )


@router.get(
    STATUS,
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "Done: the manifest (`transactionTime`, `request`, "
            "`requiresAccessToken`, `output` [{type, url, count}], `error`).",
        },
        202: {
            "content": _OUTCOME,
            "description": "Still running: `X-Progress` says how far, `Retry-After` when to "
            "ask again (an informational OperationOutcome).",
        },
        404: {"description": "No job of this principal's at that address."},
        500: {"content": _OUTCOME, "description": "The job failed: an OperationOutcome."},
    },
)
@audited(AuditAction.READ)
async def export_status(request: Request, caller: EventsRead, job_id: JobId) -> Response:
    """The export's status: 202 with `X-Progress` while queued or running, 200 with the
    manifest once done."""
    async with caller.work() as work:
        found = await export.export_status(work, job_id)
    job = found.job
    if job.state in ("queued", "running"):
        headers = {"X-Progress": job.progress, "Retry-After": _RETRY_SECONDS}
        return _told(202, f"The export is {job.state}: {job.progress}.", headers)
    if job.state == "failed":
        reason = f"The export failed ({job.error}); start another."
        return _outcome(500, "error", [Issue("", reason, "exception")])
    urls = {
        (f.resource_type, f.part): str(
            request.url_for(
                "export_file", job_id=job.id, resource_type=f.resource_type, part=str(f.part)
            )
        )
        for f in found.files
    }
    body = manifest(
        transaction_time=job.transaction_time,
        request=job.request,
        files=[(f.resource_type, f.part, f.count) for f in found.files],
        url_of=urls,
    )
    return Response(orjson.dumps(body), media_type="application/json")


@router.delete(
    STATUS,
    status_code=202,
    response_class=Response,
    responses={
        202: {"content": _OUTCOME, "description": "Cancelled (an informational OperationOutcome)."},
        404: {"description": "No such job."},
    },
)
@audited(AuditAction.EXECUTE)
async def cancel_export(caller: EventsRead, job_id: JobId) -> Response:
    """Cancel the export (or forget a finished one): the job and its files go, and the
    status URL is 404 from then on."""
    async with caller.work() as work:
        await export.cancel(work, job_id)
    return _told(202, "The export is cancelled; its files are gone.")


@router.get(
    FILES,
    response_class=Response,
    responses={
        200: {
            "content": {"application/fhir+ndjson": {"schema": {"type": "string"}}},
            "description": "The file: a resource a line.",
        },
        404: {"description": "No such file of a finished export of this principal's."},
    },
)
@audited(AuditAction.READ)
async def export_file(
    caller: EventsRead,
    job_id: JobId,
    resource_type: Annotated[str, Path(pattern=r"^[A-Z][A-Za-z]{1,63}$")],
    part: Annotated[int, Path(ge=1, le=1_000_000)],
) -> Response:
    """One NDJSON file of a finished export, to the principal that started it only."""
    async with caller.work() as work:
        body = await export.export_file(work, job_id, resource_type, part)
    return Response(body, media_type="application/fhir+ndjson")
