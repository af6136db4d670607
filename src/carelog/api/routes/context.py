"""GET /patients/{patient_id}/context: what an agent reads before it acts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from carelog.api.deps import EventsRead, audited, runtime
from carelog.api.kit.params import EventTypeParam
from carelog.api.kit.responses import WITHHELD, WITHHELD_HEADER
from carelog.api.problems import problem_responses
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction
from carelog.domain.context import PatientContext
from carelog.domain.limits import PATIENT_ID_PATTERN, Timestamp
from carelog.services import context as context_service
from carelog.services.context.cache import ContextOptions

router = APIRouter(tags=["context"], route_class=JsonRoute)


@router.get(
    "/patients/{patient_id}/context",
    response_model=PatientContext,
    responses={
        200: {
            "content": {"text/markdown": {"schema": {"type": "string"}}},
            "headers": WITHHELD,
        },
        **problem_responses(404),
    },
)
@audited(AuditAction.READ)
async def patient_context(
    caller: EventsRead,
    request: Request,
    patient_id: Annotated[str, Path(pattern=PATIENT_ID_PATTERN)],
    format: Literal["json", "markdown"] = "json",
    max_tokens: Annotated[int | None, Query(ge=50, le=200_000)] = None,
    since: Annotated[Timestamp | None, Query(description="occurred_at >= since")] = None,
    until: Annotated[
        Timestamp | None,
        Query(description="occurred_at < until: the record as it stood at that clinical time"),
    ] = None,
    types: Annotated[list[EventTypeParam] | None, Query(max_length=20)] = None,
    as_of: Annotated[Timestamp | None, Query(description="as recorded at that time")] = None,
) -> Response:
    """The patient's allergies, active conditions and medications, labs with trends, latest
    vitals and recent notes, each line citing its events; deterministic, no model involved.
    ``since``/``until`` bound clinical time (what was active on a day: ``until`` the day
    after), ``as_of`` recorded time. ``max_tokens`` drops the lowest-priority sections first
    and names them."""
    options = ContextOptions(
        since=since, until=until, types=frozenset(types) if types else None, max_tokens=max_tokens
    )
    async with caller.work() as work:
        context = await context_service.get_context(
            work, patient_id, options=options, as_of=as_of, cache=runtime(request).context_cache,
            now=caller.now(),
        )  # fmt: skip
    headers = {WITHHELD_HEADER: str(context.withheld)} if context.withheld else None
    if format == "markdown":
        return Response(context.markdown(), media_type="text/markdown", headers=headers)
    return Response(context.model_dump_json(), media_type="application/json", headers=headers)
