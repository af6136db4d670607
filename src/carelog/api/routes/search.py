"""GET /search: full text over notes and documents, and coded facts by code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from carelog.api.deps import EventsRead, audited
from carelog.api.routes.events import (
    NEXT_PAGE,
    EventCursor,
    event_json,
    invalid_parameter,
    next_link,
)
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction
from carelog.domain.cursor import decode_cursor, encode_cursor
from carelog.domain.events import PatientEvent
from carelog.domain.limits import PATIENT_ID_PATTERN, ClientText
from carelog.services import events as event_service

router = APIRouter(tags=["search"], route_class=JsonRoute)

CODE_PATTERN = r"^(loinc|rxnorm|icd10|snomed):[A-Za-z0-9.\-]{1,32}$"


@router.get("/search", response_model=list[PatientEvent], responses={200: {"headers": NEXT_PAGE}})
@audited(AuditAction.SEARCH)
async def search(
    request: Request,
    caller: EventsRead,
    q: Annotated[
        ClientText | None,
        Query(min_length=1, max_length=200, description="Words in notes and documents"),
    ] = None,
    code: Annotated[
        str | None,
        Query(pattern=CODE_PATTERN, description="system:value, e.g. loinc:4548-4"),
    ] = None,
    patient_id: Annotated[str | None, Query(pattern=PATIENT_ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    cursor: EventCursor = None,
) -> Response:
    """Current events of the caller's tenant (or one patient) whose notes match ``q`` and/or
    that carry ``code``; newest first, next page in ``Link``. At least one of ``q`` and
    ``code`` is required (422 otherwise)."""
    if q is None and code is None:
        raise invalid_parameter("q", "give q, code or both")
    system, _, value = (code or "").partition(":")
    page = await event_service.search_events(
        caller.pool,
        caller.access,
        query=q,
        code=(system, value) if code else None,
        patient_id=patient_id,
        after=decode_cursor(cursor) if cursor is not None else None,
        limit=limit,
    )
    headers = {}
    if page.next_after is not None:
        headers["Link"] = next_link(request, encode_cursor(*page.next_after))
    return event_json("[" + ",".join(doc.json for doc in page.events) + "]", headers)
