"""The writes every workflow shares: open a case, take an action on it (the reads are in
``reads.py``). Each transition is one unit: the case's row is locked, the action checked
against the workflow's table, its event appended to the patient's log (with the audit row)
and the row moved on, in one transaction of the request's :class:`Work`."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from carelog.domain.audit import AuditAction
from carelog.domain.clinical import WORKFLOW_TRANSITION
from carelog.domain.events import PatientEventCreate
from carelog.domain.scopes import SensitivityLabel
from carelog.domain.workflows.case import (
    Case,
    merge,
    transition_payload,
)
from carelog.domain.workflows.definition import OPEN, ActionBody, OpenBody, Workflow
from carelog.errors import (
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
)
from carelog.services.audit import record_success
from carelog.services.patient_events import find_replay, record_system_event
from carelog.services.unit import Work
from carelog.services.workflows.access import actor, utc, visibility
from carelog.services.workflows.reads import replay_case
from carelog.storage import payers as payer_store
from carelog.storage import workflows as store


@dataclass(frozen=True, slots=True)
class CaseResult:
    """A case after a write, and whether it was the stored answer to an earlier request
    with the same Idempotency-Key."""

    case: Case
    replayed: bool = False


def _request_hash(workflow: str, target: str, body: Mapping[str, Any]) -> bytes:
    text = json.dumps([workflow, target, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).digest()


async def policy(work: Work, workflow: Workflow) -> dict[str, Any]:
    """The workflow's rules for the tenant: the defaults with the tenant's overrides."""
    overrides = await store.get_policy(
        await work.connection(), tenant_id=work.access.tenant_id, workflow=workflow.name
    )
    return {**workflow.default_policy, **overrides}


async def _policy(
    work: Work, workflow: Workflow, action: str, data: Mapping[str, Any]
) -> Mapping[str, Any]:
    # The tenant's rules, read only for the actions whose computation uses them; with the
    # rules of the case's payer for a workflow whose cases name one.
    if not workflow.reads_policy(action):
        return {}
    rules = await policy(work, workflow)
    if workflow.per_payer:
        payer = data.get("payer") or {}
        stored = await payer_store.get_payer(
            await work.connection(), tenant_id=work.access.tenant_id, payer_id=str(payer.get("id"))
        )
        rules["payer"] = None if stored is None else dict(stored.rules)
    return rules


async def set_policy(
    work: Work, workflow: Workflow, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """Set the tenant's overrides of the workflow's rules; the rules now in force."""
    stored = await store.put_policy(
        await work.connection(),
        tenant_id=work.access.tenant_id,
        workflow=workflow.name,
        policy=overrides,
    )
    return {**workflow.default_policy, **stored}


async def _links(
    work: Work, patient_id: str, wanted: Sequence[tuple[str, int]], already: Sequence[int]
) -> tuple[list[int], set[str]]:
    """The case's links with the ``wanted`` (field, event id) pairs added, and the labels of
    the new ones; 422 naming each field whose event is not one of the patient's that the
    caller may see."""
    new = list(dict.fromkeys(event_id for _, event_id in wanted if event_id not in already))
    if not new:
        return list(already), set()
    found = await store.linked_events(
        await work.connection(), seen_by=visibility(work), event_ids=new
    )
    errors = [
        {
            "field": name,
            "location": "body",
            "message": "no event of this case's patient with that id",
            "type": "unknown_event",
        }
        for name, event_id in wanted
        if event_id in new and (event_id not in found or found[event_id][0] != patient_id)
    ]
    if errors:
        raise ValidationFailed("Linked events must be the patient's own.", errors=errors)
    labels = {label for event_id in new for label in found[event_id][1]}
    return [*already, *new], labels


def _event(case: Case, record: dict[str, Any], now: datetime) -> PatientEventCreate:
    return PatientEventCreate.model_construct(
        patient_id=case.patient_id,
        event_type=WORKFLOW_TRANSITION,
        payload=record,
        occurred_at=now,
        source=None,
        labels=frozenset(SensitivityLabel(label) for label in case.labels),
    )


async def open_case(
    work: Work,
    workflow: Workflow,
    body: OpenBody,
    *,
    now: datetime,
    idempotency_key: str | None = None,
) -> CaseResult:
    """Open a case in the workflow's initial state: its first event and its row."""
    now = utc(now)
    patient_id = body.patient_id
    if not work.access.principal.may_reach(patient_id):
        raise Forbidden("This key may not open cases for that patient.")
    request_hash = _request_hash(workflow.name, OPEN, body.model_dump(mode="json"))
    async with work.transaction():
        if idempotency_key is not None:
            first = await find_replay(
                work, idempotency_key=idempotency_key, request_hash=request_hash
            )
            if first is not None:
                return CaseResult(await _as_of_event(work, workflow, first.id), replayed=True)
        links, link_labels = await _links(work, patient_id, body.linked(), ())
        data = merge(body.fields(), {"links": links or None})
        rules = await _policy(work, workflow, OPEN, data)
        data = merge(data, workflow.computed(OPEN, data, now, rules))
        machine = workflow.machine
        case = Case(
            workflow=workflow.name,
            case_id=str(uuid.uuid4()),
            patient_id=patient_id,
            state=machine.initial,
            version=1,
            data=data,
            labels=tuple(sorted({label.value for label in body.labels} | link_labels)),
            is_open=machine.is_open(machine.initial),
            columns=workflow.queue_columns(machine.initial, data, now),
            opened_at=now,
            opened_by=work.access.principal.name,
            opened_by_kind=work.access.principal.kind.value,
            updated_at=now,
            event_ids=(),
        )
        record = transition_payload(
            workflow=workflow.name,
            case_id=case.case_id,
            action=OPEN,
            from_state=None,
            to_state=case.state,
            reason=None,
            changes=data,
        )
        recorded = await record_system_event(
            work, _event(case, record, now), idempotency_key=idempotency_key,
            request_hash=request_hash,
        )  # fmt: skip
        if recorded.replayed:  # a concurrent retry with the same key won
            return CaseResult(await _as_of_event(work, workflow, recorded.event.id), True)
        case = replace(case, event_ids=(recorded.event.id,))
        await store.insert_case(await work.connection(), tenant_id=work.access.tenant_id, case=case)
    return CaseResult(case)


async def take_action(
    work: Work,
    workflow: Workflow,
    case_id: uuid.UUID,
    body: ActionBody,
    *,
    now: datetime,
    if_match: int | None = None,
    idempotency_key: str | None = None,
) -> CaseResult:
    """Take ``body.action`` on the case: 404 if the caller may not see it, 412 if
    ``if_match`` is not its version, 428 if the action needs ``if_match`` and has none, 409
    (naming the allowed actions) if the table refuses it from the case's state."""
    now = utc(now)
    machine = workflow.machine
    request_hash = _request_hash(workflow.name, str(case_id), body.model_dump(mode="json"))
    async with work.transaction():
        conn = await work.connection()
        case = await store.lock_case(
            conn, seen_by=visibility(work), workflow=workflow.name, case_id=case_id
        )
        if case is None:
            raise NotFound(f"No {workflow.name} case with that id.")
        if idempotency_key is not None:
            first = await find_replay(
                work, idempotency_key=idempotency_key, request_hash=request_hash
            )
            if first is not None:
                return CaseResult(await _as_of_event(work, workflow, first.id), replayed=True)
        if if_match is not None and if_match != case.version:
            raise PreconditionFailed(
                f"The case is at version {case.version}, not {if_match}: read it again.",
                current_version=case.version,
            )
        action = machine.take(case.state, body.action, actor(work), opened_by=case.opened_by)
        if if_match is None and action.needs_if_match:
            raise PreconditionRequired(
                f"{action.name} overwrites the case's fields: send If-Match with its ETag."
            )
        if action.needs_reason and not body.reason:
            raise ValidationFailed(
                f"{action.name} needs a reason.",
                errors=[{"field": "reason", "location": "body", "message": "required",
                         "type": "missing"}],
            )  # fmt: skip
        links, link_labels = await _links(
            work, case.patient_id, body.linked(), case.data.get("links") or ()
        )
        changes = body.apply(case.data)
        if len(links) > len(case.data.get("links") or ()):
            changes["links"] = links
        data = merge(case.data, changes)
        rules = await _policy(work, workflow, action.name, data)
        computed = workflow.computed(action.name, data, now, rules)
        changes |= computed
        data = merge(data, computed)
        to_state = workflow.next_state(action, case.state, data)
        moved = replace(
            case,
            state=to_state,
            version=case.version + 1,
            data=data,
            labels=tuple(sorted(set(case.labels) | link_labels)),
            is_open=machine.is_open(to_state),
            columns=workflow.queue_columns(to_state, data, case.opened_at),
            updated_at=now,
        )
        record = transition_payload(
            workflow=workflow.name,
            case_id=case.case_id,
            action=action.name,
            from_state=case.state,
            to_state=to_state,
            reason=body.reason,
            changes=changes,
            note=body.note(),
        )
        recorded = await record_system_event(
            work, _event(moved, record, now), idempotency_key=idempotency_key,
            request_hash=request_hash,
        )  # fmt: skip
        if recorded.replayed:
            return CaseResult(await _as_of_event(work, workflow, recorded.event.id), True)
        moved = replace(moved, event_ids=(*case.event_ids, recorded.event.id))
        if not await store.update_case(conn, tenant_id=work.access.tenant_id, case=moved):
            raise AssertionError("the locked case row moved")  # the lock rules it out
    return CaseResult(moved)


async def _as_of_event(work: Work, workflow: Workflow, event_id: int) -> Case:
    """The case as it was right after its transition ``event_id``: what the first request
    with this Idempotency-Key answered. Its replay is audited as the first request was."""
    conn = await work.connection()
    found = await store.linked_events(conn, seen_by=visibility(work), event_ids=[event_id])
    records = await store.case_transitions(
        conn, tenant_id=work.access.tenant_id, event_ids=[event_id]
    )
    if event_id not in found or not records or records[0].workflow != workflow.name:
        raise NotFound(f"No {workflow.name} case answers that Idempotency-Key.")
    row = (
        await store.get_case(
            conn, seen_by=visibility(work), workflow=workflow.name,
            case_id=uuid.UUID(records[0].case_id), audit=None,
        )
    ).value  # fmt: skip
    if row is None:
        raise NotFound(f"No {workflow.name} case answers that Idempotency-Key.")
    upto = [e for e in row.event_ids if e <= event_id]
    history = await store.case_transitions(conn, tenant_id=work.access.tenant_id, event_ids=upto)
    case = replay_case(workflow, row.patient_id, history)
    assert case is not None
    await record_success(work, AuditAction.CREATE, patient_id=case.patient_id, event_ids=[event_id])
    return case
