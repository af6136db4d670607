"""Prior authorization (``/prior-auth-cases``) and the tenant's payer table (``/payers``).

Open, list (urgency, then due time; ``payer=``), read with the timeline, act; the
CMS-0057-F metrics (``/prior-auth-cases/metrics``); and per payer its time frames and, per
service code, whether authorization is needed and what it requires."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from carelog.api.deps import Admin, WorkflowsRead, audited
from carelog.api.kit.pagination import NEXT_PAGE, page_headers
from carelog.api.kit.params import invalid_parameter
from carelog.api.kit.workflows import QueueQuery, WorkflowApi, add_case_routes
from carelog.api.problems import problem_responses
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction
from carelog.domain.limits import Timestamp
from carelog.domain.workflows import prior_auth
from carelog.domain.workflows.payers import (
    PAYER_ID_PATTERN,
    PayerId,
    PayerRules,
    PayerView,
    StoredPayer,
)
from carelog.domain.workflows.prior_auth_fields import PriorAuthView
from carelog.services.workflows import prior_auth as prior_auth_service

router = APIRouter(tags=["prior authorization"], route_class=JsonRoute)
PayerPath = Annotated[str, Path(pattern=PAYER_ID_PATTERN, description="The payer's id.")]


class PriorAuthQuery(QueueQuery):
    """The prior-authorization queue's filters."""

    payer: PayerId | None = Field(default=None, description="Only cases with this payer (id).")

    def filters(self) -> dict[str, Any]:
        return {"payer_id": self.payer}


class UrgencyFigures(BaseModel):
    requests: int
    approved: int
    approved_percent: float | None
    partially_approved: int
    partially_approved_percent: float | None
    denied: int
    denied_percent: float | None
    approved_after_appeal: int
    approved_after_appeal_percent: float | None
    approved_after_extension: int
    approved_after_extension_percent: float | None
    decision_time: dict[str, float | None] = Field(
        description="average_seconds and median_seconds from first submission to decision."
    )
    decisions_after_due: int


class Metrics(BaseModel):
    """The figures CMS-0057-F has payers publish, from the log (see the README)."""

    since: datetime
    until: datetime
    payer: str | None
    standard: UrgencyFigures
    expedited: UrgencyFigures


def _view(payer: StoredPayer) -> dict[str, Any]:
    return {
        "id": payer.payer_id,
        **payer.rules,
        "updated_at": payer.updated_at.astimezone(UTC).isoformat(),
        "updated_by": payer.updated_by,
    }


@router.get(
    "/prior-auth-cases/metrics",
    response_model=Metrics,
    summary="Prior-authorization metrics (CMS-0057-F)",
    responses=problem_responses(422),
)
@audited(AuditAction.SEARCH)
async def get_metrics(
    caller: WorkflowsRead,
    since: Annotated[
        Timestamp | None, Query(description="Decisions at or after it (default: 1 January).")
    ] = None,
    until: Annotated[
        Timestamp | None, Query(description="Decisions before it (default: now).")
    ] = None,
    payer: Annotated[PayerId | None, Query(description="Only this payer's cases.")] = None,
) -> Metrics:
    """Percent approved, partially approved, denied, approved after appeal and after an
    extended review, and the time from submission to decision (average, median), for
    standard and expedited requests decided in ``[since, until)``; and how many decisions
    came after their due time."""
    until = until or caller.now()
    since = since or datetime(until.astimezone(UTC).year, 1, 1, tzinfo=UTC)
    if since >= until:
        raise invalid_parameter("since", "must be before until", "range_order")
    async with caller.work() as work:
        figures = await prior_auth_service.metrics(work, since=since, until=until, payer_id=payer)
    return Metrics.model_validate({"since": since, "until": until, "payer": payer, **figures})


add_case_routes(
    router,
    WorkflowApi(
        workflow=prior_auth.WORKFLOW,
        path="/prior-auth-cases",
        open_body=prior_auth.PriorAuthOpen,
        action_body=prior_auth.PriorAuthAction,
        view=PriorAuthView,
        query=PriorAuthQuery,
        noun="a prior-authorization case",
    ),
)


@router.put("/payers/{payer_id}", response_model=PayerView, responses=problem_responses(403))
@audited(AuditAction.UPDATE)
async def put_payer(rules: PayerRules, caller: Admin, payer_id: PayerPath) -> dict[str, Any]:
    """Set a payer's row of the tenant's payer table (scope ``admin``): its name, time
    frames, and per service code whether prior authorization is needed and which documents
    or answers it requires (a body of at most 1 MiB). Cases opened (or drafts updated) from
    now on take it."""
    async with caller.work() as work:
        stored = await prior_auth_service.put_payer(
            work, payer_id, rules.model_dump(mode="json"), now=caller.now()
        )
    return _view(stored)


@router.get("/payers/{payer_id}", response_model=PayerView, responses=problem_responses(404))
@audited(AuditAction.READ)
async def get_payer(caller: WorkflowsRead, payer_id: PayerPath) -> dict[str, Any]:
    """A payer's row: what needs prior authorization with it, and what each requires."""
    async with caller.work() as work:
        stored = await prior_auth_service.get_payer(work, payer_id)
    return _view(stored)


@router.get("/payers", response_model=list[PayerView], responses={200: {"headers": NEXT_PAGE}})
@audited(AuditAction.SEARCH)
async def list_payers(
    request: Request,
    caller: WorkflowsRead,
    cursor: Annotated[
        PayerId | None, Query(description="Where to continue: from the previous page's `Link`.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JSONResponse:
    """The tenant's payers in id order; the next page in ``Link``."""
    async with caller.work() as work:
        page = await prior_auth_service.list_payers(work, after=cursor, limit=limit)
    after = None if page.next_after is None else (page.next_after,)
    headers = page_headers(request, after, str)
    return JSONResponse([_view(p) for p in page.payers], headers=headers)
