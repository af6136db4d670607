"""The MCP tools over the patient record: read the context, list and search events, record,
correct and retract them, and record a decision that cites what it relied on. Each calls the
same service as its REST route, with the call's access (see ``door``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from mcp_types import CallToolResult
from pydantic import Field

from carelog.domain.audit import AuditAction
from carelog.domain.cursor import EVENT_CURSOR_PATTERN, decode_cursor, encode_cursor
from carelog.domain.events import (
    CorrectionCreate,
    EventDocument,
    EventQuery,
    PatientEventCreate,
)
from carelog.domain.limits import PATIENT_ID_PATTERN, Timestamp
from carelog.domain.scopes import Permission
from carelog.errors import ValidationFailed
from carelog.mcp.door import Spec, answer, current, run, spec
from carelog.services import context as context_service
from carelog.services import patient_events as event_service
from carelog.services.context.cache import ContextOptions
from carelog.services.unit import Work

PatientIdArg = Annotated[
    str,
    Field(pattern=PATIENT_ID_PATTERN, description="The patient's identifier, e.g. P-2048."),
]
EventIdArg = Annotated[int, Field(ge=1, le=2**63 - 1, description="The event's id.")]
EventTypes = Annotated[
    list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]] | None,
    Field(max_length=20, description="Only these event types, e.g. ['lab_result']."),
]
Cursor = Annotated[
    str | None,
    Field(pattern=EVENT_CURSOR_PATTERN, description="next_cursor of the previous page."),
]
Limit = Annotated[int, Field(ge=1, le=500, description="At most this many events (1-500).")]
Reason = Annotated[str, Field(min_length=1, max_length=500, description="Why, for the record.")]
IdempotencyKey = Annotated[
    str | None,
    Field(
        pattern=r"^[\x21-\x7e]{1,255}$",
        description="Any unique string: a retry with the same key and arguments returns the "
        "first result and writes nothing again.",
    ),
]


def _events(docs: list[EventDocument]) -> list[dict[str, Any]]:
    return [orjson.loads(doc.json) for doc in docs]


def _page(docs: list[EventDocument], after: tuple[datetime, int] | None) -> dict[str, Any]:
    return {
        "events": _events(docs),
        "next_cursor": encode_cursor(*after) if after is not None else None,
    }


async def get_patient_context(
    patient_id: PatientIdArg,
    format: Annotated[
        Literal["markdown", "json"],
        Field(description="markdown (default) to read, or json for sections and lines."),
    ] = "markdown",
    max_tokens: Annotated[
        int | None,
        Field(ge=50, le=200_000, description="Budget: lowest-priority sections are cut first."),
    ] = None,
    since: Annotated[Timestamp | None, Field(description="Clinical time from (RFC 3339).")] = None,
    until: Annotated[Timestamp | None, Field(description="Clinical time before.")] = None,
    types: EventTypes = None,
    as_of: Annotated[
        Timestamp | None, Field(description="The record as it was recorded at that time.")
    ] = None,
) -> CallToolResult:
    """Read what is known about a patient before acting: allergies, open items (escalations,
    prior authorizations, care tasks), active conditions and medications, each lab's latest
    value and trend, latest vitals and recent notes. Every line cites the event ids it comes
    from ([events 12, 15]). Keep the returned as_of and cited_event_ids: pass them to
    record_decision so the decision says what it relied on."""

    async def use(work: Work) -> CallToolResult:
        runtime = current().runtime
        options = ContextOptions(
            since=since, until=until, types=frozenset(types) if types else None,
            max_tokens=max_tokens,
        )  # fmt: skip
        context = await context_service.get_context(
            work, patient_id, options=options, as_of=as_of, cache=runtime.context_cache,
            now=runtime.clock(),
        )  # fmt: skip
        body = {
            "patient_id": context.patient_id,
            "as_of": context.as_of.isoformat() if context.as_of else None,
            "omitted": context.omitted,
            "withheld": context.withheld,
        }
        text = context.markdown() if format == "markdown" else context.model_dump_json()
        return answer(body, cited=context.cited(), text=text)

    return await run(use)


async def list_patient_events(
    patient_id: PatientIdArg,
    event_types: EventTypes = None,
    since: Annotated[Timestamp | None, Field(description="occurred_at from (RFC 3339).")] = None,
    until: Annotated[Timestamp | None, Field(description="occurred_at before.")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
    include_history: Annotated[
        bool, Field(description="Also corrected and retracted versions.")
    ] = False,
    as_of: Annotated[Timestamp | None, Field(description="As recorded at that time.")] = None,
) -> CallToolResult:
    """List a patient's events, newest first (current versions unless include_history).
    Pass next_cursor back as cursor for the next page."""

    async def use(work: Work) -> CallToolResult:
        query = EventQuery(
            patient_id=patient_id, event_types=tuple(dict.fromkeys(event_types or ())),
            since=since, until=until, limit=limit,
            after=decode_cursor(cursor) if cursor else None, history=include_history,
            as_of=as_of,
        )  # fmt: skip
        page = await event_service.list_events(work, query)
        body = {**_page(page.events, page.next_after), "withheld": page.withheld}
        return answer(body, cited=[doc.id for doc in page.events])

    return await run(use)


async def search_events(
    q: Annotated[
        str | None,
        Field(min_length=1, max_length=200, description="Words in notes, documents, decisions."),
    ] = None,
    code: Annotated[
        str | None,
        Field(
            pattern=r"^(loinc|rxnorm|icd10|snomed):[A-Za-z0-9.\-]{1,32}$",
            description="A coded fact, system:value, e.g. loinc:4548-4 (HbA1c).",
        ),
    ] = None,
    patient_id: Annotated[
        str | None, Field(pattern=PATIENT_ID_PATTERN, description="Only this patient.")
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> CallToolResult:
    """Search current events by words (q) and/or a code, across patients or for one; newest
    first. Give q, code or both."""

    async def use(work: Work) -> CallToolResult:
        if q is None and code is None:
            raise ValidationFailed(
                "Give q, code or both.",
                errors=[{"field": "q", "message": "give q, code or both", "type": "missing"}],
            )
        system, _, value = (code or "").partition(":")
        page = await event_service.search_events(
            work, query=q, code=(system, value) if code else None, patient_id=patient_id,
            after=decode_cursor(cursor) if cursor else None, limit=limit,
        )  # fmt: skip
        return answer(_page(page.events, page.next_after), cited=[doc.id for doc in page.events])

    return await run(use)


async def record_event(
    patient_id: PatientIdArg,
    event_type: Annotated[
        str,
        Field(
            pattern=r"^[a-z][a-z0-9_.]{0,63}$",
            description="lab_result, vital_signs, triage_note, medication, condition, "
            "allergy, encounter, document (checked by their schemas), or a tenant's own type.",
        ),
    ],
    payload: Annotated[dict[str, Any], Field(description="The event's content, an object.")],
    occurred_at: Annotated[
        str | None, Field(description="Clinical time, RFC 3339 with offset; default now.")
    ] = None,
    labels: Annotated[
        list[Literal["BH", "ETH", "HIV", "STD", "GDIS", "SEX"]] | None,
        Field(description="Sensitivity labels, if the content is sensitive."),
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> CallToolResult:
    """Record one observation about a patient (a note, vitals, a lab) in the append-only
    log. Returns the stored event with its id."""

    async def use(work: Work) -> CallToolResult:
        event = PatientEventCreate.model_validate(
            {
                "patient_id": patient_id, "event_type": event_type, "payload": payload,
                "occurred_at": occurred_at, "labels": labels or [],
                "source": work.access.principal.agent_name,
            }
        )  # fmt: skip
        recorded = await event_service.record_event(work, event, idempotency_key=idempotency_key)
        body = {"event": orjson.loads(recorded.event.json), "replayed": recorded.replayed}
        return answer(body, cited=[recorded.event.id])

    return await run(use)


async def correct_event(
    event_id: EventIdArg,
    payload: Annotated[dict[str, Any], Field(description="The corrected content, whole.")],
    reason: Reason,
    occurred_at: Annotated[
        str | None, Field(description="Corrected clinical time; default: the original's.")
    ] = None,
) -> CallToolResult:
    """Correct an event: a new version with this payload supersedes it (the original is
    kept). Fails with event-superseded naming the current version if it was corrected
    already: correct that one instead."""

    async def use(work: Work) -> CallToolResult:
        body = CorrectionCreate.model_validate(
            {"payload": payload, "reason": reason, "occurred_at": occurred_at}
        )
        revision = await event_service.revise_event(
            work, event_id, reason=body.reason, payload=body.payload, occurred_at=body.occurred_at
        )
        return answer({"event": orjson.loads(revision.json)}, cited=[event_id, revision.id])

    return await run(use)


async def retract_event(event_id: EventIdArg, reason: Reason) -> CallToolResult:
    """Retract an event entered in error (the wrong patient, a duplicate): a retraction
    supersedes it, and lists and the context stop showing it."""

    async def use(work: Work) -> CallToolResult:
        revision = await event_service.revise_event(work, event_id, reason=reason)
        return answer({"event": orjson.loads(revision.json)}, cited=[event_id, revision.id])

    return await run(use)


async def record_decision(
    patient_id: PatientIdArg,
    action: Annotated[
        str, Field(min_length=1, max_length=200, description="What you decided: escalate, ...")
    ],
    rationale: Annotated[str, Field(min_length=1, max_length=10_000, description="Why.")],
    relied_on: Annotated[
        list[Annotated[int, Field(ge=1)]],
        Field(
            min_length=1,
            max_length=1000,
            description="The event ids the decision rests on: the cited_event_ids of the "
            "context you read (or the events you used).",
        ),
    ],
    context_as_of: Annotated[
        Timestamp | None,
        Field(description="The as_of of the context you read: it replays exactly that."),
    ] = None,
    model: Annotated[
        str | None, Field(max_length=200, description="The model that decided.")
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> CallToolResult:
    """Record what you decided about a patient and why, as an agent_decision event that
    cites the events (and the context snapshot) it relied on, so that a reviewer can see
    exactly what you saw."""

    async def use(work: Work) -> CallToolResult:
        principal = work.access.principal
        decision: dict[str, Any] = {
            "action": action, "rationale": rationale, "relied_on": sorted(set(relied_on)),
            "agent": principal.agent_name or principal.name,
        }  # fmt: skip
        if context_as_of is not None:
            decision["context_as_of"] = context_as_of.isoformat()
        if model is not None:
            decision["model"] = model
        event = PatientEventCreate(
            patient_id=patient_id, event_type="agent_decision", payload=decision,
            source=principal.agent_name,
        )  # fmt: skip
        recorded = await event_service.record_event(work, event, idempotency_key=idempotency_key)
        body = {"event": orjson.loads(recorded.event.json), "replayed": recorded.replayed}
        return answer(body, cited=[recorded.event.id, *relied_on])

    return await run(use)


READ, WRITE = Permission.EVENTS_READ, Permission.EVENTS_WRITE

TOOLS: tuple[Spec, ...] = (
    spec(get_patient_context, permission=READ, action=AuditAction.READ,
         title="Read a patient's context", read_only=True),
    spec(list_patient_events, permission=READ, action=AuditAction.SEARCH,
         title="List a patient's events", read_only=True),
    spec(search_events, permission=READ, action=AuditAction.SEARCH,
         title="Search events", read_only=True),
    # Additive: a second call without a key appends a second event.
    spec(record_event, permission=WRITE, action=AuditAction.CREATE,
         title="Record an event", read_only=False, destructive=False, idempotent=False),
    # A second correction of the same version is refused (superseded): no further effect.
    spec(correct_event, permission=WRITE, action=AuditAction.UPDATE,
         title="Correct an event", read_only=False, destructive=False, idempotent=True),
    # Takes the event out of every current view (kept in the history).
    spec(retract_event, permission=WRITE, action=AuditAction.UPDATE,
         title="Retract an event", read_only=False, destructive=True, idempotent=True),
    spec(record_decision, permission=WRITE, action=AuditAction.CREATE,
         title="Record a decision", read_only=False, destructive=False, idempotent=False),
)  # fmt: skip
