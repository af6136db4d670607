"""Intake escalation (``/escalations``): an intake agent asks a clinician to respond.

Open, list (severity, then age), read with the timeline, act; and the tenant's response
targets per severity (``/escalations/targets``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from carelog.api.deps import Admin, WorkflowsRead, audited
from carelog.api.kit.workflows import QueueQuery, WorkflowApi, add_case_routes
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction
from carelog.domain.workflows import escalations
from carelog.services import workflows as workflow_service

router = APIRouter(tags=["escalations"], route_class=JsonRoute)

# A response target: at least a minute, at most 30 days.
Seconds = Annotated[int, Field(ge=60, le=30 * 86400)]


class ResponseTargets(BaseModel):
    """How long a clinician has to acknowledge an escalation, per severity, in seconds."""

    model_config = ConfigDict(extra="forbid")

    emergent: Seconds = escalations.DEFAULT_TARGETS["emergent"]
    urgent: Seconds = escalations.DEFAULT_TARGETS["urgent"]
    routine: Seconds = escalations.DEFAULT_TARGETS["routine"]


@router.get("/escalations/targets", response_model=ResponseTargets)
@audited(AuditAction.READ)
async def get_targets(caller: WorkflowsRead) -> ResponseTargets:
    """The tenant's response targets (the defaults where it set none)."""
    async with caller.work() as work:
        policy = await workflow_service.policy(work, escalations.WORKFLOW)
    return ResponseTargets.model_validate(policy)


@router.put("/escalations/targets", response_model=ResponseTargets)
@audited(AuditAction.UPDATE)
async def set_targets(targets: ResponseTargets, caller: Admin) -> ResponseTargets:
    """Set the tenant's response targets (scope ``admin``); they apply to escalations opened
    or reopened from now on."""
    async with caller.work() as work:
        policy = await workflow_service.set_policy(work, escalations.WORKFLOW, targets.model_dump())
    return ResponseTargets.model_validate(policy)


add_case_routes(
    router,
    WorkflowApi(
        workflow=escalations.WORKFLOW,
        path="/escalations",
        open_body=escalations.EscalationOpen,
        action_body=escalations.EscalationAction,
        view=escalations.EscalationView,
        query=QueueQuery,
        noun="an escalation",
    ),
)
