"""GET /search: full text over notes and documents, and coded facts by code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from carelog.api.deps import EventsRead, audited
from carelog.api.kit.pagination import NEXT_PAGE, EventCursor, after_event, page_headers
from carelog.api.kit.params import invalid_parameter
from carelog.api.kit.responses import event_list_json
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction
from carelog.domain.cursor import encode_cursor
from carelog.domain.events import PatientEvent
from carelog.domain.limits import PATIENT_ID_PATTERN, ClientText
from carelog.services import patient_events as event_service

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
    async with caller.work() as work:
        page = await event_service.search_events(
            work,
            query=q,
            code=(system, value) if code else None,
            patient_id=patient_id,
            after=after_event(cursor),
            limit=limit,
        )
    headers = page_headers(request, page.next_after, encode_cursor)
    return event_list_json([doc.json for doc in page.events], headers)
