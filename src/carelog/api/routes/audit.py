"""The audit trail: search it, export it as FHIR AuditEvents, verify its hash chains."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response

from carelog.api.deps import AuditRead, audited
from carelog.api.kit.pagination import NEXT_PAGE, AuditCursor, after_audit_row, page_headers
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction, AuditEvent, AuditOutcome, ChainReport
from carelog.domain.audit_fhir import to_bundle, to_fhir
from carelog.domain.cursor import encode_audit_cursor
from carelog.domain.limits import PATIENT_ID_PATTERN, ClientText, Timestamp
from carelog.services import audit as audit_service

router = APIRouter(tags=["audit"], route_class=JsonRoute)

DEFAULT_PAGE = 50
MAX_PAGE = 500


@router.get(
    "/audit-events",
    response_model=list[AuditEvent],
    responses={
        200: {
            "content": {
                "application/fhir+json": {"schema": {"type": "object"}},
                "application/fhir+ndjson": {"schema": {"type": "string"}},
            },
            "description": "A JSON array (format=json), a FHIR Bundle (format=fhir) or NDJSON.",
            "headers": NEXT_PAGE,
        }
    },
)
@audited(AuditAction.SEARCH)
async def list_audit_events(
    request: Request,
    caller: AuditRead,
    patient_id: Annotated[str | None, Query(pattern=PATIENT_ID_PATTERN)] = None,
    principal_id: Annotated[ClientText | None, Query(max_length=256)] = None,
    action: AuditAction | None = None,
    outcome: AuditOutcome | None = None,
    break_glass: bool | None = None,
    since: Annotated[Timestamp | None, Query(description="recorded_at >= since")] = None,
    until: Annotated[Timestamp | None, Query(description="recorded_at < until")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: AuditCursor = None,
    format: Literal["json", "fhir", "ndjson"] = "json",
) -> Response:
    """The caller's tenant's audit rows, newest first (``audit:read``). Reading is audited.
    A key limited to some patients sees only their rows (and its own rows naming none)."""
    filters: dict[str, object] = {
        "patient_id": patient_id,
        "principal_id": principal_id,
        "action": action.value if action else None,
        "outcome": outcome.value if outcome else None,
        "break_glass": break_glass,
        "since": since,
        "until": until,
    }
    async with caller.work() as work:
        page = await audit_service.search(
            work, filters=filters, after=after_audit_row(cursor), limit=limit
        )
    headers = page_headers(request, page.next_after, encode_audit_cursor)
    if format == "fhir":
        body = orjson.dumps(to_bundle(page.events))
        return Response(body, media_type="application/fhir+json", headers=headers)
    if format == "ndjson":
        lines = b"".join(orjson.dumps(to_fhir(e)) + b"\n" for e in page.events)
        return Response(lines, media_type="application/fhir+ndjson", headers=headers)
    body = orjson.dumps([e.model_dump(mode="json") for e in page.events])
    return Response(body, media_type="application/json", headers=headers)


@router.get("/audit-events/verify", response_model=ChainReport)
@audited(AuditAction.EXECUTE)
async def verify_audit_chain(caller: AuditRead) -> ChainReport:
    """Check every link of the caller's tenant's audit chains; report the first broken one."""
    return await audit_service.verify(caller.pool, caller.access.tenant_id)
