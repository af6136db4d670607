"""The reads every workflow shares: one case with its timeline, a queue page, the patient's
open cases (the context's open items), and the fold that makes a case from its transitions.
Each read is audited by its own statement (or by the context that shows it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from carelog.domain.workflows import WORKFLOWS
from carelog.domain.workflows.case import Case, CaseFilter, TransitionRecord, replay
from carelog.domain.workflows.definition import Workflow
from carelog.errors import NotFound
from carelog.services.unit import Work
from carelog.services.workflows.access import utc, visibility
from carelog.storage import workflows as store


def replay_case(
    workflow: Workflow, patient_id: str, transitions: Sequence[TransitionRecord]
) -> Case | None:
    """The case its transitions (oldest first) make, by the workflow's rules."""
    if not transitions:
        return None
    return replay(
        workflow=workflow.name,
        case_id=transitions[0].case_id,
        patient_id=patient_id,
        transitions=transitions,
        is_open=workflow.machine.is_open,
        columns=workflow.columns,
    )


async def get_case(work: Work, workflow: Workflow, case_id: uuid.UUID) -> Case:
    """The case with its timeline (every transition: who, when, from, to, why); 404 when
    the caller may not see it. Audited as a read of its transition events."""
    conn = await work.connection()
    case = work.audited(
        await store.get_case(
            conn, seen_by=visibility(work), workflow=workflow.name, case_id=case_id,
            audit=work.access.audit,
        )
    )  # fmt: skip
    if case is None:
        raise NotFound(f"No {workflow.name} case with that id.")
    timeline = await store.case_transitions(
        conn, tenant_id=work.access.tenant_id, event_ids=case.event_ids
    )
    return replace(case, timeline=tuple(timeline))


@dataclass(frozen=True, slots=True)
class CasePage:
    """One page of a queue and where the next one starts (None: this was the last)."""

    cases: list[Case]
    next_after: tuple[int, datetime, uuid.UUID] | None


async def list_cases(
    work: Work,
    where: CaseFilter,
    *,
    now: datetime,
    after: tuple[int, datetime, uuid.UUID] | None,
    limit: int,
) -> CasePage:
    """One page of the workflow's queue in its order (rank, then age or due time; overdue
    ones the most overdue first), after the ``after`` keyset; audited as a search of the
    cases' newest transitions."""
    rows = work.audited(
        await store.list_cases(
            await work.connection(), seen_by=visibility(work), where=where, now=utc(now),
            after=after, limit=limit + 1, audit=work.access.audit,
        )
    )  # fmt: skip
    page = rows[:limit]
    next_after = None
    if len(rows) > limit:
        last = page[-1]
        if where.overdue and last.columns.due_at is not None:
            next_after = (0, last.columns.due_at, uuid.UUID(last.case_id))
        else:
            next_after = (last.columns.rank, last.sort_at, uuid.UUID(last.case_id))
    return CasePage(page, next_after)


async def open_cases(work: Work, patient_id: str, *, as_of: datetime | None) -> list[Case]:
    """The patient's cases the caller may see that were open: now, or as the log stood at
    ``as_of`` (each case folded from its transitions recorded by then). Not audited here:
    the context that shows them cites their newest transitions in its own audit row."""
    conn = await work.connection()
    rows = await store.patient_cases(
        conn, seen_by=visibility(work), patient_id=patient_id, open_only=as_of is None
    )
    if as_of is None:
        return rows
    history: dict[str, list[TransitionRecord]] = {}
    event_ids = [event_id for row in rows for event_id in row.event_ids]
    for record in await store.case_transitions(
        conn, tenant_id=work.access.tenant_id, event_ids=event_ids
    ):
        if record.recorded_at is not None and record.recorded_at <= as_of:
            history.setdefault(record.case_id, []).append(record)
    found = []
    for row in rows:
        workflow = WORKFLOWS.get(row.workflow)
        then = (
            replay_case(workflow, row.patient_id, history.get(row.case_id, []))
            if workflow
            else None
        )
        if then is not None and then.is_open:
            found.append(then)
    return found
