"""Storage of workflow cases: the row each case's transitions keep current, the tenant's
workflow rules, and the transition events a case's timeline and rebuild read. Connection
first; never commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from carelog.domain.audit import AuditContext
from carelog.domain.workflows.case import Case, CaseFilter, QueueColumns, TransitionRecord
from carelog.storage.audit import Audited
from carelog.storage.db import Connection
from carelog.storage.queries import Queries

load = Queries(__name__)


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which cases a principal may see: its tenant's, its patients' (None: all), and those
    whose labels are all visible (None: every label)."""

    tenant_id: str
    patients: frozenset[str] | None
    visible_labels: frozenset[str] | None

    def params(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "patients": None if self.patients is None else sorted(self.patients),
            "visible_labels": None if self.visible_labels is None else sorted(self.visible_labels),
        }


def case_from_row(row: Sequence[Any]) -> Case:
    """A :class:`Case` from the columns of ``_case_columns.sql``, in that order."""
    (workflow, case_id, patient_id, state, version, data, labels, is_open, rank, due_at,
     sort_at, assignee, payer_id, opened_at, opened_by, opened_by_kind, updated_at,
     event_ids) = row[:18]  # fmt: skip
    return Case(
        workflow=workflow,
        case_id=case_id,
        patient_id=patient_id,
        state=state,
        version=version,
        data=data,
        labels=tuple(labels),
        is_open=is_open,
        columns=QueueColumns(
            rank=rank, due_at=due_at, sort_at=sort_at, assignee=assignee, payer_id=payer_id
        ),
        opened_at=opened_at,
        opened_by=opened_by,
        opened_by_kind=opened_by_kind,
        updated_at=updated_at,
        event_ids=tuple(event_ids),
    )


def _row_params(tenant_id: str, case: Case) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "case_id": case.case_id,
        "workflow": case.workflow,
        "patient_id": case.patient_id,
        "state": case.state,
        "is_open": case.is_open,
        "version": case.version,
        "data": Jsonb(dict(case.data)),
        "labels": list(case.labels),
        "rank": case.columns.rank,
        "sort_at": case.sort_at,
        "due_at": case.columns.due_at,
        "assignee": case.columns.assignee,
        "payer_id": case.columns.payer_id,
        "opened_at": case.opened_at,
        "opened_by": case.opened_by,
        "opened_by_kind": case.opened_by_kind,
        "updated_at": case.updated_at,
        "event_ids": list(case.event_ids),
    }


async def insert_case(
    conn: Connection, *, tenant_id: str, case: Case, replace: bool = False
) -> bool:
    """Store a new case's row; with ``replace``, overwrite the row of that id (a rebuild).
    Whether a row was written."""
    params = _row_params(tenant_id, case) | {"replace": replace}
    cur = await conn.execute(load("insert_case"), params)
    return await cur.fetchone() is not None


async def update_case(conn: Connection, *, tenant_id: str, case: Case) -> bool:
    """Store a transition's new row (``case.version`` one past the stored one); whether the
    stored row was still at the version before it."""
    cur = await conn.execute(load("update_case"), _row_params(tenant_id, case))
    return await cur.fetchone() is not None


async def lock_case(
    conn: Connection, *, seen_by: Visibility, workflow: str, case_id: UUID
) -> Case | None:
    """The case, locked until the transaction ends, if ``seen_by`` may see it."""
    params = seen_by.params() | {"workflow": workflow, "case_id": case_id}
    cur = await conn.execute(load("lock_case"), params)
    row = await cur.fetchone()
    return None if row is None else case_from_row(row)


async def get_case(
    conn: Connection,
    *,
    seen_by: Visibility,
    workflow: str,
    case_id: UUID,
    audit: AuditContext | None,
) -> Audited[Case | None]:
    """The case, if ``seen_by`` may see it; with ``audit``, the read's audit row too."""
    params = seen_by.params() | {"workflow": workflow, "case_id": case_id}
    params |= (audit or _NO_AUDIT).params() | {"audit": audit is not None}
    cur = await conn.execute(load("get_case"), params)
    row = await cur.fetchone()
    return Audited(
        None if row is None else case_from_row(row), audited=row is not None and audit is not None
    )


_NO_AUDIT = AuditContext(request_id="-", client_address=None)


async def list_cases(
    conn: Connection,
    *,
    seen_by: Visibility,
    where: CaseFilter,
    now: datetime,
    after: tuple[int, datetime, UUID] | None,
    limit: int,
    audit: AuditContext,
) -> Audited[list[Case]]:
    """One page of the queue after the ``after`` keyset, audited: in queue order (rank,
    sort time, id), or with ``where.overdue`` the most overdue first (due time, id; the
    keyset's rank is 0). Each shape is its own statement, an ordered range of its index."""
    after_rank, after_sort_at, after_case = after or (None, None, None)
    params = seen_by.params() | audit.params()
    params |= {
        "workflow": where.workflow,
        "states": None if where.states is None else list(where.states),
        "patient_id": where.patient_id,
        "assignee": where.assignee,
        "payer_id": where.payer_id,
        "now": now,
        "after_rank": after_rank,
        "after_sort_at": after_sort_at,
        "after_case": after_case,
        "limit": limit,
    }
    statement = (
        "list_overdue" if where.overdue
        else "list_cases" if where.states is None
        else "list_cases_in_states"
    )  # fmt: skip
    cur = await conn.execute(load(statement), params)
    return Audited([case_from_row(row) for row in await cur.fetchall()], audited=True)


def _record(row: Sequence[Any], recorded_at: datetime | None = None) -> TransitionRecord:
    event_id, occurred_at, recorded_by, recorded_by_kind, payload, labels = row[:6]
    return TransitionRecord.from_event(
        event_id=event_id,
        occurred_at=occurred_at,
        recorded_by=recorded_by,
        recorded_by_kind=recorded_by_kind,
        payload=payload,
        labels=labels,
        recorded_at=recorded_at,
    )


async def case_transitions(
    conn: Connection, *, tenant_id: str, event_ids: Sequence[int]
) -> list[TransitionRecord]:
    """The transitions of a case, by its events' ids, oldest first."""
    cur = await conn.execute(
        load("case_transitions"), {"tenant_id": tenant_id, "event_ids": list(event_ids)}
    )
    return [_record(row, row[6]) for row in await cur.fetchall()]


async def patient_cases(
    conn: Connection, *, seen_by: Visibility, patient_id: str, open_only: bool
) -> list[Case]:
    """The patient's cases ``seen_by`` may see (only the open ones, or all). Not audited:
    the context that shows them is."""
    params = seen_by.params() | {"patient_id": patient_id, "open_only": open_only}
    cur = await conn.execute(load("patient_cases"), params)
    return [case_from_row(row) for row in await cur.fetchall()]


async def decided_transitions(
    conn: Connection, *, seen_by: Visibility, workflow: str, since: datetime, until: datetime
) -> dict[str, list[TransitionRecord]]:
    """Case id -> the transitions before ``until`` (oldest first) of each case of the
    workflow ``seen_by`` may see with a decision (``respond``) in ``[since, until)``."""
    params = seen_by.params() | {"workflow": workflow, "since": since, "until": until}
    cur = await conn.execute(load("decided_transitions"), params)
    cases: dict[str, list[TransitionRecord]] = {}
    for row in await cur.fetchall():
        record = _record(row)
        cases.setdefault(record.case_id, []).append(record)
    return cases


@dataclass(frozen=True, slots=True)
class LoggedTransition:
    """A transition event as a rebuild reads it: its patient, and the record."""

    patient_id: str
    record: TransitionRecord


async def tenant_transitions(
    conn: Connection, *, tenant_id: str, workflow: str | None, case_id: str | None
) -> list[LoggedTransition]:
    """Every transition event of the tenant (of one workflow, or one case), oldest first."""
    cur = await conn.execute(
        load("tenant_transitions"),
        {"tenant_id": tenant_id, "workflow": workflow, "case_id": case_id},
    )
    return [
        LoggedTransition(
            patient_id=row[6],
            record=_record(row),
        )
        for row in await cur.fetchall()
    ]


async def get_policy(conn: Connection, *, tenant_id: str, workflow: str) -> dict[str, Any]:
    """The tenant's overrides of the workflow's rules."""
    cur = await conn.execute(load("get_policy"), {"tenant_id": tenant_id, "workflow": workflow})
    row = await cur.fetchone()
    assert row is not None
    return dict(row[0])


async def put_policy(
    conn: Connection, *, tenant_id: str, workflow: str, policy: Mapping[str, Any]
) -> dict[str, Any]:
    """Set the tenant's overrides of the workflow's rules."""
    cur = await conn.execute(
        load("put_policy"),
        {"tenant_id": tenant_id, "workflow": workflow, "policy": Jsonb(dict(policy))},
    )
    row = await cur.fetchone()
    assert row is not None
    return dict(row[0])


async def linked_events(
    conn: Connection, *, seen_by: Visibility, event_ids: Sequence[int]
) -> dict[int, tuple[str, tuple[str, ...]]]:
    """Of ``event_ids``, those ``seen_by`` may see: id -> (patient, labels)."""
    cur = await conn.execute(
        load("linked_events"), seen_by.params() | {"event_ids": list(event_ids)}
    )
    return {row[0]: (row[1], tuple(row[2])) for row in await cur.fetchall()}


async def case_ids(
    conn: Connection, *, tenant_id: str, workflow: str | None, case_id: str | None
) -> list[str]:
    """The ids of the tenant's case rows (of one workflow, or the one case)."""
    cur = await conn.execute(
        load("case_ids"), {"tenant_id": tenant_id, "workflow": workflow, "case_id": case_id}
    )
    return [case for (case,) in await cur.fetchall()]


async def lapsed_cases(
    conn: Connection,
    *,
    tenant_id: str,
    workflow: str,
    states: Sequence[str],
    path: Sequence[str],
    today: str,
) -> list[UUID]:
    """The ids of the tenant's cases of ``workflow`` in ``states`` whose date at ``path`` of
    their data (YYYY-MM-DD) is before ``today``, oldest first."""
    params = {"tenant_id": tenant_id, "workflow": workflow, "states": list(states),
              "path": list(path), "today": today}  # fmt: skip
    cur = await conn.execute(load("lapsed_cases"), params)
    return [case for (case,) in await cur.fetchall()]


async def workflow_tenants(conn: Connection) -> list[str]:
    """Every tenant (operators' rebuild across tenants)."""
    cur = await conn.execute(load("workflow_tenants"))
    return [tenant for (tenant,) in await cur.fetchall()]
