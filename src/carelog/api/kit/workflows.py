"""The routes every workflow has, made once: open a case, list a queue, read a case with its
timeline, take an action. A workflow's router calls :func:`add_case_routes` with its models
and adds what is its own (escalation targets, payers, metrics).

Every answer that holds one case carries ``ETag: "<version>"``. An action may send
``If-Match`` with that ETag: a stale one is 412 with the current version. An action that
only moves the state needs no ``If-Match``: the service decides it under the case row's
lock, against the state the case is in then, so of two racing agents one wins and the other
gets 409 naming what is allowed now; no update can be lost. An action that overwrites
fields the client read (an edit) is 428 without ``If-Match``.

(No ``from __future__ import annotations`` here: the routes' annotations name the
workflow's own models, which FastAPI reads at run time.)
"""

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

import orjson
from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from carelog.api.deps import Caller, WorkflowsRead, WorkflowsWrite, audited
from carelog.api.kit.pagination import NEXT_PAGE, page_headers
from carelog.api.kit.params import IdempotencyKey, invalid_parameter
from carelog.api.problems import problem_responses
from carelog.domain.audit import AuditAction
from carelog.domain.cursor import CASE_CURSOR_PATTERN, decode_case_cursor, encode_case_cursor
from carelog.domain.limits import PatientId
from carelog.domain.workflows.case import Case, CaseFilter
from carelog.domain.workflows.definition import CaseView, OpenBody, Workflow
from carelog.services import workflows as workflow_service
from carelog.services.workflows import CaseResult

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        pattern=r'^"?[0-9]{1,9}"?$',
        description='The ETag (`"<version>"`, quoted or not) of the case as the client last '
        "read it: a stale one is 412. Needed only by actions that overwrite fields (428 "
        "without).",
    ),
]
CaseId = Annotated[uuid.UUID, Path(description="The case id.")]
ETAG = {
    "ETag": {
        "description": 'The case\'s version, `"<version>"`: send it back as `If-Match`.',
        "schema": {"type": "string", "pattern": r'^"[0-9]+"$'},
    }
}
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key and body.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


class QueueQuery(BaseModel):
    """The filters every queue takes; a workflow's own query adds its own."""

    model_config = ConfigDict(extra="forbid")

    status: list[str] | None = Field(
        default=None, max_length=20, description="States to list (repeatable); default: all."
    )
    overdue: bool = Field(default=False, description="Only open cases past their due time.")
    patient_id: PatientId | None = None
    limit: int | None = Field(
        default=None, ge=1, description="Default and maximum: the service's settings."
    )
    cursor: Annotated[str, Field(pattern=CASE_CURSOR_PATTERN)] | None = Field(
        default=None, description="Where to continue: the cursor of the previous page's `Link`."
    )

    def filters(self) -> dict[str, Any]:
        """The workflow's own filters (``assignee``, ``payer_id``) of this query."""
        return {}


@dataclass(frozen=True, slots=True)
class WorkflowApi:
    """A workflow as its routes need it."""

    workflow: Workflow
    path: str
    # Its models: the body that opens a case, the union of its action bodies, the view of
    # one case, and its queue's query.
    open_body: type[OpenBody]
    action_body: Any
    view: type[CaseView]
    query: type[QueueQuery]
    noun: str


def case_response(
    workflow: Workflow,
    case: Case,
    caller: Caller,
    *,
    status_code: int = 200,
    replayed: bool = False,
    location: str | None = None,
) -> Response:
    """One case as JSON, with its ETag (and Location, Idempotent-Replayed when they apply)."""
    headers = {"ETag": f'"{case.version}"'}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if location is not None:
        headers["Location"] = location
    document = workflow.document(
        case, now=caller.now(), actor=workflow_service.actor_of(caller.access.principal)
    )
    return Response(
        orjson.dumps(document), status_code=status_code, media_type="application/json",
        headers=headers,
    )  # fmt: skip


def _version(if_match: str | None) -> int | None:
    return None if if_match is None else int(if_match.strip('"'))


def _with_states(query: type[QueueQuery], workflow: Workflow) -> type[QueueQuery]:
    """The queue's query with ``status`` limited to the workflow's states (in the schema)."""
    states: Any = Literal[workflow.machine.states]
    model: type[QueueQuery] = create_model(
        f"{query.__name__}_{workflow.name}",
        __base__=query,
        status=(
            list[states] | None,
            Field(default=None, max_length=20, description="States to list (repeatable)."),
        ),
    )
    return model


def add_case_routes(router: APIRouter, api: WorkflowApi) -> None:
    """Add the four routes every workflow has to ``router``."""
    workflow = api.workflow
    queue_query = _with_states(api.query, workflow)

    def _written(result: CaseResult, caller: Caller, status_code: int) -> Response:
        return case_response(
            workflow, result.case, caller, status_code=status_code, replayed=result.replayed,
            location=f"{api.path}/{result.case.case_id}" if status_code == 201 else None,
        )  # fmt: skip

    @router.post(
        api.path,
        status_code=201,
        response_model=api.view,
        summary=f"Open {api.noun}",
        description=_doc("open_case", api),
        responses={201: {"headers": {**ETAG, **REPLAYED}}, **problem_responses(403, 409)},
    )
    @audited(AuditAction.CREATE)
    async def open_case(
        body: api.open_body,  # type: ignore[name-defined]
        caller: WorkflowsWrite,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async with caller.work() as work:
            result = await workflow_service.open_case(
                work, workflow, body, now=caller.now(), idempotency_key=idempotency_key
            )
        return _written(result, caller, 201)

    @router.get(
        api.path,
        response_model=list[api.view],  # type: ignore[name-defined]
        summary=f"List {api.noun} cases (a queue)",
        description=_doc("list_cases", api),
        responses={200: {"headers": NEXT_PAGE}},
    )
    @audited(AuditAction.SEARCH)
    async def list_cases(
        request: Request,
        caller: WorkflowsRead,
        sent: Annotated[queue_query, Query()],  # type: ignore[valid-type]
    ) -> Response:
        query = cast(QueueQuery, sent)
        settings = caller.settings
        limit = settings.default_page_size if query.limit is None else query.limit
        if limit > settings.max_page_size:
            raise invalid_parameter("limit", f"must be at most {settings.max_page_size}")
        states = list(dict.fromkeys(query.status or ()))
        where = CaseFilter(
            workflow=workflow.name,
            states=states or None,
            overdue=query.overdue,
            patient_id=query.patient_id,
            **query.filters(),
        )
        after = None if query.cursor is None else decode_case_cursor(query.cursor)
        now = caller.now()
        async with caller.work() as work:
            page = await workflow_service.list_cases(work, where, now=now, after=after, limit=limit)
        actor = workflow_service.actor_of(caller.access.principal)
        body = [workflow.document(case, now=now, actor=actor) for case in page.cases]
        headers = page_headers(request, page.next_after, encode_case_cursor)
        return Response(orjson.dumps(body), media_type="application/json", headers=headers)

    @router.get(
        api.path + "/{case_id}",
        response_model=api.view,
        summary=f"Read {api.noun} with its timeline",
        description=_doc("read_case", api),
        responses={200: {"headers": ETAG}, **problem_responses(404)},
    )
    @audited(AuditAction.READ)
    async def read_case(caller: WorkflowsRead, case_id: CaseId) -> Response:
        async with caller.work() as work:
            case = await workflow_service.get_case(work, workflow, case_id)
        return case_response(workflow, case, caller)

    @router.post(
        api.path + "/{case_id}/actions",
        response_model=api.view,
        summary=f"Take an action on {api.noun}",
        description=_doc("act", api),
        responses={
            200: {"headers": {**ETAG, **REPLAYED}},
            **problem_responses(403, 404, 409, 412, 428),
        },
    )
    @audited(AuditAction.UPDATE)
    async def act(
        body: api.action_body,  # type: ignore[name-defined]
        caller: WorkflowsWrite,
        case_id: CaseId,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async with caller.work() as work:
            result = await workflow_service.take_action(
                work, workflow, case_id, body, now=caller.now(),
                if_match=_version(if_match), idempotency_key=idempotency_key,
            )  # fmt: skip
        return _written(result, caller, 200)


_DOCS = {
    "open_case": "Open {noun}: its first transition goes into the patient's log.",
    "list_cases": "The queue: {noun} cases in queue order, each with its due time and "
    "whether it is overdue; next page in `Link`.",
    "read_case": "One case with its timeline: every transition (who, when, from, to, why).",
    "act": "Take an action on {noun} (see the workflow's table): 409 "
    "`transition-not-allowed` names the allowed ones; `If-Match` guards against lost updates.",
}


def _doc(route: str, api: WorkflowApi) -> str:
    return _DOCS[route].format(noun=api.noun, path=api.path)
