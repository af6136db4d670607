"""Patient events: the seed's two routes (kept exactly), plus single reads and filters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import AwareDatetime, StringConstraints

from carelog.api.deps import AppSettings, DbPool, EventsRead, EventsWrite
from carelog.api.routing import JsonRoute
from carelog.domain.cursor import decode_cursor, encode_cursor
from carelog.domain.events import EventQuery, PatientEvent, PatientEventCreate
from carelog.domain.limits import (
    EVENT_TYPE_PATTERN,
    IDEMPOTENCY_KEY_PATTERN,
    PATIENT_ID_PATTERN,
)
from carelog.errors import ValidationFailed
from carelog.services import events as event_service

router = APIRouter(tags=["events"], route_class=JsonRoute)

EventTypeParam = Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Retries with the same key and body return the first response.",
    ),
]
MAX_EVENT_ID = 2**63 - 1


@router.post("/patient-events", response_model=PatientEvent)
async def create_patient_event(
    event: PatientEventCreate,
    principal: EventsWrite,
    pool: DbPool,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> PatientEvent:
    """Record one event for a patient (the seed's write path)."""
    recorded = await event_service.record_event(
        pool, principal, event, idempotency_key=idempotency_key
    )
    if recorded.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return recorded.event


@router.get("/patient-events/{patient_id}", response_model=list[PatientEvent])
async def list_patient_events(
    request: Request,
    response: Response,
    principal: EventsRead,
    pool: DbPool,
    settings: AppSettings,
    patient_id: Annotated[str, Path(pattern=PATIENT_ID_PATTERN)],
    event_type: Annotated[
        list[EventTypeParam] | None, Query(max_length=20, description="Repeatable.")
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="occurred_at >= since")] = None,
    until: Annotated[AwareDatetime | None, Query(description="occurred_at < until")] = None,
    limit: Annotated[int | None, Query(ge=1, description="Default 20, at most 500.")] = None,
    cursor: Annotated[str | None, Query(max_length=128)] = None,
) -> list[PatientEvent]:
    """A patient's events, newest first (the seed's read path); next page in ``Link``."""
    if limit is None:
        limit = settings.default_page_size
    if limit > settings.max_page_size:
        raise _invalid("limit", f"must be at most {settings.max_page_size}")
    after = None
    if cursor is not None:
        try:
            after = decode_cursor(cursor)
        except ValueError:
            raise _invalid("cursor", "not a cursor this API issued") from None
    query = EventQuery(
        patient_id=patient_id,
        event_types=tuple(dict.fromkeys(event_type or ())),
        since=since,
        until=until,
        limit=limit,
        after=after,
    )
    page = await event_service.list_events(pool, principal, query)
    if page.next_after is not None:
        next_url = request.url.include_query_params(cursor=encode_cursor(*page.next_after))
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return page.events


@router.get("/events/{event_id}", response_model=PatientEvent)
async def get_event(
    principal: EventsRead,
    pool: DbPool,
    event_id: Annotated[int, Path(ge=1, le=MAX_EVENT_ID)],
) -> PatientEvent:
    """One event by id, if it belongs to the caller's tenant."""
    return await event_service.get_event(pool, principal, event_id)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid value for: {field}.",
        errors=[{"field": field, "location": "query", "message": message, "type": "value_error"}],
    )
