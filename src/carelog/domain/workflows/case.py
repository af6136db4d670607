"""A workflow case as its transitions make it: the event each transition leaves in the
patient's log, and the fold that rebuilds the case's row from those events alone.

The row (``workflow_cases``) is only a projection kept for fast queries. Everything in it
comes from the case's ``workflow_transition`` events, in order: the state is the last event's
``to``, the fields are every event's ``changes`` applied in turn, the version is how many
transitions there were, the times and the opener are the first and last events'. So
``carelog workflows rebuild`` can throw a row away and make it again, exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class QueueColumns:
    """What a workflow's queues sort and filter by, derived from the case's fields."""

    rank: int = 0
    # When the case's clock runs out (None while no clock runs: acknowledged, closed).
    due_at: datetime | None = None
    # The second sort key of the queue after rank (None: the time the case was opened).
    sort_at: datetime | None = None
    assignee: str | None = None
    payer_id: str | None = None


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One transition as its event holds it."""

    workflow: str
    case_id: str
    event_id: int
    occurred_at: datetime
    recorded_by: str
    recorded_by_kind: str
    action: str
    from_state: str | None
    to_state: str
    reason: str | None
    changes: Mapping[str, Any]
    labels: tuple[str, ...] = ()
    note: str | None = None
    # When the log recorded it (the database's clock; as_of reads go by it).
    recorded_at: datetime | None = field(default=None, compare=False)

    @classmethod
    def from_event(
        cls,
        *,
        event_id: int,
        occurred_at: datetime,
        recorded_by: str,
        recorded_by_kind: str,
        payload: Mapping[str, Any],
        labels: Iterable[str] = (),
        recorded_at: datetime | None = None,
    ) -> TransitionRecord:
        return cls(
            workflow=str(payload["workflow"]),
            case_id=str(payload["case_id"]),
            event_id=event_id,
            occurred_at=occurred_at,
            recorded_by=recorded_by,
            recorded_by_kind=recorded_by_kind,
            action=str(payload["action"]),
            from_state=payload.get("from"),
            to_state=str(payload["to"]),
            reason=payload.get("reason"),
            changes=dict(payload.get("changes") or {}),
            labels=tuple(sorted(labels)),
            note=payload.get("note"),
            recorded_at=recorded_at,
        )

    def as_json(self) -> dict[str, Any]:
        """The timeline entry: who, when, from, to, why, what changed."""
        return {
            "event_id": self.event_id,
            "at": self.occurred_at,
            "actor": self.recorded_by,
            "actor_kind": self.recorded_by_kind,
            "action": self.action,
            "from": self.from_state,
            "to": self.to_state,
            "reason": self.reason,
            "note": self.note,
            "changes": dict(self.changes),
        }


def transition_payload(
    *,
    workflow: str,
    case_id: str,
    action: str,
    from_state: str | None,
    to_state: str,
    reason: str | None,
    changes: Mapping[str, Any],
    note: str | None = None,
) -> dict[str, Any]:
    """The payload of the event one transition leaves in the patient's log."""
    payload = {
        "workflow": workflow,
        "case_id": case_id,
        "action": action,
        "from": from_state,
        "to": to_state,
        "reason": reason,
        "changes": dict(changes),
    }
    if note is not None:
        payload["note"] = note
    return payload


@dataclass(frozen=True, slots=True)
class Case:
    """A case's current state, as its row holds it (and as its events rebuild it)."""

    workflow: str
    case_id: str
    patient_id: str
    state: str
    version: int
    data: Mapping[str, Any]
    labels: tuple[str, ...]
    is_open: bool
    columns: QueueColumns
    opened_at: datetime
    opened_by: str
    opened_by_kind: str
    updated_at: datetime
    # The case's transition events, in order (its timeline's ids; the last is the newest).
    event_ids: tuple[int, ...]
    timeline: tuple[TransitionRecord, ...] = field(default=(), compare=False)

    def overdue(self, now: datetime) -> bool:
        """Whether the case's clock ran out (a clock runs only in open states)."""
        due = self.columns.due_at
        return self.is_open and due is not None and now > due

    @property
    def sort_at(self) -> datetime:
        """The queue's second sort key (its age unless the workflow sorts by another time)."""
        return self.columns.sort_at or self.opened_at


def parse_time(value: Any) -> datetime | None:
    """A time a case's data holds (RFC 3339 text), or None."""
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def queue_columns(
    columns: Callable[[str, Mapping[str, Any]], QueueColumns],
    state: str,
    data: Mapping[str, Any],
    opened_at: datetime,
) -> QueueColumns:
    """The workflow's queue columns of a case, its age standing in for a missing sort key."""
    derived = columns(state, data)
    if derived.sort_at is None:
        return replace(derived, sort_at=opened_at)
    return derived


def merge(data: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with ``changes`` applied: a key set to None is removed."""
    merged = dict(data)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def replay(
    *,
    workflow: str,
    case_id: str,
    patient_id: str,
    transitions: Iterable[TransitionRecord],
    is_open: Callable[[str], bool],
    columns: Callable[[str, Mapping[str, Any]], QueueColumns],
) -> Case | None:
    """The case the transitions (in order) make; None when there are none."""
    records = list(transitions)
    if not records:
        return None
    data: dict[str, Any] = {}
    for record in records:
        data = merge(data, record.changes)
    first, last = records[0], records[-1]
    return Case(
        workflow=workflow,
        case_id=case_id,
        patient_id=patient_id,
        state=last.to_state,
        version=len(records),
        data=data,
        labels=last.labels,
        is_open=is_open(last.to_state),
        columns=queue_columns(columns, last.to_state, data, first.occurred_at),
        opened_at=first.occurred_at,
        opened_by=first.recorded_by,
        opened_by_kind=first.recorded_by_kind,
        updated_at=last.occurred_at,
        event_ids=tuple(r.event_id for r in records),
        timeline=tuple(records),
    )


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """What a queue read asks for."""

    workflow: str
    states: Sequence[str] | None = None
    # Only open cases past their due time, the most overdue first.
    overdue: bool = False
    patient_id: str | None = None
    assignee: str | None = None
    payer_id: str | None = None
