"""Patient events: the seed's two routes (kept exactly), plus single reads and filters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from carelog.api.deps import Caller, EventsRead, EventsWrite, audited
from carelog.api.kit.pagination import NEXT_PAGE, EventCursor, after_event, page_headers
from carelog.api.kit.params import EventTypeParam, IdempotencyKey, invalid_parameter
from carelog.api.kit.responses import WITHHELD, WITHHELD_HEADER, event_json, event_list_json
from carelog.api.problems import problem_responses
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction
from carelog.domain.batch import NDJSON
from carelog.domain.cursor import encode_cursor
from carelog.domain.events import (
    CorrectionCreate,
    EventQuery,
    PatientEvent,
    PatientEventCreate,
    RetractionCreate,
)
from carelog.domain.limits import (
    PATIENT_ID_PATTERN,
    Timestamp,
)
from carelog.services import patient_events as event_service

router = APIRouter(tags=["events"], route_class=JsonRoute)

MAX_EVENT_ID = 2**63 - 1
BATCH_PATH = "/patient-events/batch"


@router.post(
    "/patient-events",
    response_model=PatientEvent,
    responses={
        200: {
            "headers": {
                "Idempotent-Replayed": {
                    "description": "`true` when this is the stored answer to an earlier "
                    "request with the same Idempotency-Key and body.",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            }
        },
        **problem_responses(409),
    },
)
@audited(AuditAction.CREATE)
async def create_patient_event(
    event: PatientEventCreate,
    caller: EventsWrite,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record one event for a patient (the seed's write path)."""
    async with caller.work() as work:
        recorded = await event_service.record_event(work, event, idempotency_key=idempotency_key)
    headers = {"Idempotent-Replayed": "true"} if recorded.replayed else None
    return event_json(recorded.event.json, headers)


class BatchResult(BaseModel):
    """What a batch stored: each item's event id, in the batch's order."""

    created: int = Field(description="Events written by this request.")
    replayed: list[int] = Field(
        description="Indexes of the items that were replays: their idempotency key was used "
        "before with the same event, whose id they get; nothing new was written for them."
    )
    ids: list[int] = Field(description="The event id of each item, in the batch's order.")


_BATCH_ITEMS = {
    "schema": {
        "type": "array",
        "minItems": 1,
        "items": {"$ref": "#/components/schemas/BatchItem"},
        "description": "At most CARELOG_BATCH_MAX_EVENTS items (413 beyond).",
    }
}


@router.post(
    BATCH_PATH,
    response_model=BatchResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": _BATCH_ITEMS,
                NDJSON: {"schema": {"$ref": "#/components/schemas/BatchItem"}},
            },
        }
    },
    responses=problem_responses(403, 409, 413, 415),
)
@audited(AuditAction.CREATE)
async def create_patient_events_batch(request: Request, caller: EventsWrite) -> Response:
    """Record many events at once: a JSON array of events, or NDJSON (one event a line,
    `Content-Type: application/x-ndjson`), each the body of `POST /patient-events` with its
    own optional `idempotency_key`. All or nothing: every item is checked, and one failing
    item (422 naming each failure by `index`, `pointer` and, in NDJSON, `line`; 403 for a
    patient out of the key's reach; 409 for a key used with another event) stores nothing.
    At most `CARELOG_BATCH_MAX_EVENTS` events (10,000 by default) and
    `CARELOG_BATCH_MAX_BYTES` (16 MiB), else 413. Written in one transaction with COPY, and
    audited as one row naming every event."""
    # (JsonRoute has refused any other media type than the two the request body declares.)
    media_type = request.headers["content-type"].split(";", 1)[0].strip().lower()
    settings = caller.settings
    read = await event_service.read_batch(
        await request.body(), ndjson=media_type == NDJSON, max_events=settings.batch_max_events
    )
    async with caller.work() as work:
        stored = await event_service.record_batch(work, read)
    body = {"created": stored.created, "replayed": stored.replayed, "ids": stored.ids}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/patient-events/{patient_id}",
    response_model=list[PatientEvent],
    responses={200: {"headers": {**NEXT_PAGE, **WITHHELD}}, **problem_responses(404)},
)
@audited(AuditAction.SEARCH)
async def list_patient_events(
    request: Request,
    caller: EventsRead,
    patient_id: Annotated[str, Path(pattern=PATIENT_ID_PATTERN)],
    event_type: Annotated[
        list[EventTypeParam] | None, Query(max_length=20, description="Repeatable.")
    ] = None,
    since: Annotated[Timestamp | None, Query(description="occurred_at >= since")] = None,
    until: Annotated[Timestamp | None, Query(description="occurred_at < until")] = None,
    limit: Annotated[
        int | None, Query(ge=1, description="Default and maximum: the service's settings.")
    ] = None,
    cursor: EventCursor = None,
    include: Annotated[
        Literal["history"] | None,
        Query(description="history: every version, corrected and retracted ones too"),
    ] = None,
    as_of: Annotated[
        Timestamp | None,
        Query(description="What the record said then: only what was recorded by that time"),
    ] = None,
) -> Response:
    """A patient's current events, newest first (the seed's read path); next page in
    ``Link``. Corrected and retracted versions are left out unless ``include=history``."""
    settings = caller.settings
    if limit is None:
        limit = settings.default_page_size
    if limit > settings.max_page_size:
        raise invalid_parameter("limit", f"must be at most {settings.max_page_size}")
    query = EventQuery(
        patient_id=patient_id,
        event_types=tuple(dict.fromkeys(event_type or ())),
        since=since,
        until=until,
        limit=limit,
        after=after_event(cursor),
        history=include == "history",
        as_of=as_of,
    )
    async with caller.work() as work:
        page = await event_service.list_events(work, query)
    headers = page_headers(request, page.next_after, encode_cursor)
    if caller.access.visible_labels is not None:
        headers[WITHHELD_HEADER] = str(page.withheld)
    return event_list_json([doc.json for doc in page.events], headers)


@router.get("/events/{event_id}", response_model=PatientEvent, responses=problem_responses(404))
@audited(AuditAction.READ)
async def get_event(
    caller: EventsRead,
    event_id: Annotated[int, Path(ge=1, le=MAX_EVENT_ID)],
) -> Response:
    """One event by id, if it belongs to the caller's tenant."""
    async with caller.work() as work:
        event = await event_service.get_event(work, event_id)
    return event_json(event.json)


@router.post(
    "/events/{event_id}/corrections",
    response_model=PatientEvent,
    responses=problem_responses(404, 409),
)
@audited(AuditAction.UPDATE)
async def correct_event(
    correction: CorrectionCreate,
    caller: EventsWrite,
    event_id: Annotated[int, Path(ge=1, le=MAX_EVENT_ID)],
) -> Response:
    """Correct an event: a new version with the new payload supersedes it (409 naming the
    current version if it was already superseded)."""
    return await _revise(
        caller,
        event_id,
        correction.reason,
        payload=correction.payload,
        occurred_at=correction.occurred_at,
    )


@router.post(
    "/events/{event_id}/retractions",
    response_model=PatientEvent,
    responses=problem_responses(404, 409),
)
@audited(AuditAction.UPDATE)
async def retract_event(
    retraction: RetractionCreate,
    caller: EventsWrite,
    event_id: Annotated[int, Path(ge=1, le=MAX_EVENT_ID)],
) -> Response:
    """Mark an event entered-in-error: a retraction supersedes it; lists stop showing it."""
    return await _revise(caller, event_id, retraction.reason)


async def _revise(
    caller: Caller,
    event_id: int,
    reason: str,
    *,
    payload: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Response:
    async with caller.work() as work:
        revision = await event_service.revise_event(
            work, event_id, reason=reason, payload=payload, occurred_at=occurred_at
        )
    return event_json(revision.json)
