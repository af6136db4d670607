"""The MCP tools over the workflows: open and list escalations, take an action on a prior
authorization case, and list the open items (open cases of every workflow). Each calls the
same workflow service as the REST routes (api/kit/workflows.py), with the call's access."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from mcp_types import CallToolResult
from pydantic import Field, TypeAdapter, ValidationError

from carelog.domain.audit import AuditAction
from carelog.domain.cursor import CASE_CURSOR_PATTERN, decode_case_cursor, encode_case_cursor
from carelog.domain.scopes import Permission
from carelog.domain.workflows import WORKFLOWS, escalations, prior_auth
from carelog.domain.workflows.case import Case, CaseFilter
from carelog.domain.workflows.definition import ActionBody, Workflow
from carelog.mcp.door import Spec, answer, current, run, spec, validation_failed
from carelog.mcp.events import IdempotencyKey, PatientIdArg
from carelog.services import workflows as workflow_service
from carelog.services.unit import Work

CaseLimit = Annotated[int, Field(ge=1, le=100, description="At most this many cases (1-100).")]
CaseCursor = Annotated[
    str | None, Field(pattern=CASE_CURSOR_PATTERN, description="next_cursor of the last page.")
]
EventLinks = Annotated[
    list[Annotated[int, Field(ge=1, le=2**53 - 1)]] | None,
    Field(max_length=100, description="Ids of the patient's events the case rests on."),
]
_PRIOR_AUTH_ACTION: TypeAdapter[ActionBody] = TypeAdapter(prior_auth.PriorAuthAction)


def _documents(workflow: Workflow, cases: list[Case]) -> list[dict[str, Any]]:
    runtime = current().runtime
    actor = workflow_service.actor_of(current().access.principal)
    now = runtime.clock()
    return [workflow.document(case, now=now, actor=actor) for case in cases]


def _cited(cases: list[Case]) -> list[int]:
    return [
        event_id
        for case in cases
        for event_id in (*case.event_ids, *(case.data.get("links") or ()))
        if isinstance(event_id, int)
    ]


async def open_escalation(
    patient_id: PatientIdArg,
    severity: Annotated[
        Literal["emergent", "urgent", "routine"],
        Field(description="emergent: 15 min to respond by default; urgent 2 h; routine 2 days."),
    ],
    reason: Annotated[
        str,
        Field(min_length=1, max_length=2000, description="What the clinician should look at."),
    ],
    link_events: EventLinks = None,
    idempotency_key: IdempotencyKey = None,
) -> CallToolResult:
    """Ask a clinician to look at a patient: open an escalation with a severity and a
    reason, linking the events it rests on (the triage note, the vitals)."""

    async def use(work: Work) -> CallToolResult:
        workflow = escalations.WORKFLOW
        body = escalations.EscalationOpen.model_validate(
            {"patient_id": patient_id, "severity": severity, "reason": reason,
             "link_events": link_events},
        )  # fmt: skip
        result = await workflow_service.open_case(
            work, workflow, body, now=current().runtime.clock(), idempotency_key=idempotency_key
        )
        [document] = _documents(workflow, [result.case])
        return answer({"case": document, "replayed": result.replayed}, cited=_cited([result.case]))

    return await run(use)


async def _queue(work: Work, workflow: Workflow, where: CaseFilter, limit: int, cursor: str | None
                 ) -> tuple[list[Case], str | None]:  # fmt: skip
    page = await workflow_service.list_cases(
        work, where, now=current().runtime.clock(),
        after=decode_case_cursor(cursor) if cursor else None, limit=limit,
    )  # fmt: skip
    following = encode_case_cursor(*page.next_after) if page.next_after else None
    return page.cases, following


async def list_escalations(
    status: Annotated[
        list[Literal["open", "acknowledged", "resolved", "cancelled"]] | None,
        Field(max_length=4, description="Only these states (default: all)."),
    ] = None,
    overdue: Annotated[bool, Field(description="Only open ones past their response time.")] = False,
    patient_id: Annotated[
        str | None,
        Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$", description="One patient."),
    ] = None,
    limit: CaseLimit = 20,
    cursor: CaseCursor = None,
) -> CallToolResult:
    """The escalation queue: most severe first, then oldest; each with its due time, whether
    it is overdue and the actions you may take."""

    async def use(work: Work) -> CallToolResult:
        workflow = escalations.WORKFLOW
        where = CaseFilter(
            workflow=workflow.name, states=list(dict.fromkeys(status or ())) or None,
            overdue=overdue, patient_id=patient_id,
        )  # fmt: skip
        cases, following = await _queue(work, workflow, where, limit, cursor)
        body = {"cases": _documents(workflow, cases), "next_cursor": following}
        return answer(body, cited=_cited(cases))

    return await run(use)


async def update_prior_auth_case(
    case_id: Annotated[uuid.UUID, Field(description="The prior-authorization case's id.")],
    action: Annotated[
        dict[str, Any],
        Field(
            description="The action, as POST /prior-auth-cases/{id}/actions takes it: "
            '{"action": "submit"}, {"action": "attach", "event_id": 12, "satisfies": [...]}, '
            '{"action": "respond", "lines": [...]}, {"action": "comment", "comment": "..."}, '
            "update, extend, record_error, appeal, expire, cancel (with reason) or link. The "
            "case's allowed_actions say which apply now."
        ),
    ],
    if_match: Annotated[
        int | None,
        Field(ge=1, description="The case version you read (needed by update, which edits)."),
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> CallToolResult:
    """Take an action on a prior-authorization case (submit it, attach a document to a
    requirement, record the payer's response per line, appeal, comment, cancel...). A
    refused transition names the actions allowed now."""

    async def use(work: Work) -> CallToolResult:
        workflow = prior_auth.WORKFLOW
        try:
            body = _PRIOR_AUTH_ACTION.validate_python(action)
        except ValidationError as exc:
            raise validation_failed(exc, prefix="action") from None
        result = await workflow_service.take_action(
            work, workflow, case_id, body, now=current().runtime.clock(), if_match=if_match,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        [document] = _documents(workflow, [result.case])
        return answer({"case": document, "replayed": result.replayed}, cited=_cited([result.case]))

    return await run(use)


async def list_open_items(
    patient_id: Annotated[
        str | None,
        Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$", description="One patient."),
    ] = None,
    overdue: Annotated[bool, Field(description="Only those past their due time.")] = False,
    limit: CaseLimit = 20,
) -> CallToolResult:
    """What is waiting: the open escalations, prior-authorization cases and care tasks (of
    one patient, or all you may see), each queue in its own order."""

    async def use(work: Work) -> CallToolResult:
        items: dict[str, list[dict[str, Any]]] = {}
        cited: list[int] = []
        for workflow in WORKFLOWS.values():
            where = CaseFilter(
                workflow=workflow.name, states=sorted(workflow.machine.open_states),
                overdue=overdue, patient_id=patient_id,
            )  # fmt: skip
            cases, _ = await _queue(work, workflow, where, limit, None)
            items[workflow.name] = _documents(workflow, cases)
            cited += _cited(cases)
        return answer({"open_items": items}, cited=cited)

    return await run(use)


READ, WRITE = Permission.WORKFLOWS_READ, Permission.WORKFLOWS_WRITE

TOOLS: tuple[Spec, ...] = (
    # Without a key a second call opens a second escalation.
    spec(open_escalation, permission=WRITE, action=AuditAction.CREATE,
         title="Open an escalation", read_only=False, destructive=False, idempotent=False),
    spec(list_escalations, permission=READ, action=AuditAction.SEARCH,
         title="List escalations", read_only=True),
    # A decision, a denial or a cancellation changes the case for everyone.
    spec(update_prior_auth_case, permission=WRITE, action=AuditAction.UPDATE,
         title="Act on a prior authorization", read_only=False, destructive=True,
         idempotent=False),
    spec(list_open_items, permission=READ, action=AuditAction.SEARCH,
         title="List open items", read_only=True),
)  # fmt: skip
