"""What makes a workflow: its table, the bodies its requests carry, and how a case's fields
turn into the columns its queues use. Each workflow module builds one :class:`Workflow`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, TypeAdapter

from carelog.domain.limits import ClientText, PatientId, no_duplicates
from carelog.domain.scopes import SensitivityLabel
from carelog.domain.workflows.case import Case, QueueColumns, queue_columns
from carelog.domain.workflows.machine import Action, Actor, Machine

MAX_LINKS = 100
# Event ids in a JSON body: I-JSON (RFC 7493) keeps integers within +-(2**53 - 1), where
# every client's numbers are exact; the log's ids stay far below it.
MAX_LINKED_EVENT_ID = 2**53 - 1
Reason = Annotated[ClientText, StringConstraints(min_length=1, max_length=2000)]
Note = Annotated[ClientText, StringConstraints(min_length=1, max_length=10_000)]
EventLinks = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_LINKED_EVENT_ID)]],
    BeforeValidator(no_duplicates),
    Field(max_length=MAX_LINKS, json_schema_extra={"uniqueItems": True}),
]
Labels = Annotated[frozenset[SensitivityLabel], BeforeValidator(no_duplicates)]


class Body(BaseModel):
    """A request body of a workflow: unknown fields are refused (a typo is a 422)."""

    model_config = ConfigDict(extra="forbid")

    def stored(self, exclude: set[str]) -> dict[str, Any]:
        """The fields as a case stores them: JSON, times in UTC (RFC 3339)."""
        values = self.model_dump(mode="python", exclude_none=True, exclude=exclude)
        return {
            key: _JSON.dump_python(_in_utc(value), mode="json") for key, value in values.items()
        }


class OpenBody(Body):
    """What every case is opened with, besides its workflow's own fields."""

    patient_id: PatientId = Field(description="The patient the case is about.")
    link_events: EventLinks | None = Field(
        default=None,
        description="Ids of the patient's events this case rests on (the triage note, a lab).",
    )
    labels: Labels = Field(
        default=frozenset(),
        description="Sensitivity labels of the case; the labels of linked events are added.",
    )

    def fields(self) -> dict[str, Any]:
        """The workflow's own fields, as stored in the case (JSON-ready)."""
        return self.stored({"patient_id", "link_events", "labels"})

    def linked(self) -> list[tuple[str, int]]:
        """The patient's events the case links from the start: (field, id)."""
        return [(f"link_events.{i}", event_id) for i, event_id in enumerate(self.link_events or ())]


class ActionBody(Body):
    """What every action carries: its name (the discriminator), why, and events to link."""

    # Fields kept on the timeline only (a comment), never set on the case.
    timeline_only: ClassVar[frozenset[str]] = frozenset()

    action: str
    reason: Reason | None = Field(default=None, description="Why (kept on the timeline).")
    link_events: EventLinks | None = Field(
        default=None, description="Ids of the patient's events to link to the case."
    )

    def changes(self) -> dict[str, Any]:
        """The fields this action sets on the case (JSON-ready)."""
        return self.stored({"action", "reason", "link_events", *self.timeline_only})

    def apply(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The fields this action sets on a case whose fields are ``data``: its own fields,
        unless the action works on what the case holds (a decision on its lines); a body
        that does raises :class:`~carelog.errors.ValidationFailed` for what does not fit."""
        del data
        return self.changes()

    def linked(self) -> list[tuple[str, int]]:
        """The patient's events this action links to the case: (the field that names it, its
        id) in the body's order."""
        return [(f"link_events.{i}", event_id) for i, event_id in enumerate(self.link_events or ())]

    def note(self) -> str | None:
        """What the action says on the timeline besides its reason (a comment's text)."""
        notes = [str(getattr(self, name)) for name in sorted(self.timeline_only)]
        return "\n".join(notes) if notes else None


class Cancel(ActionBody):
    """Withdraw the case (every workflow's, with its reason)."""

    action: Literal["cancel"]
    reason: Reason


class Comment(ActionBody):
    """A note on the timeline (every workflow's): it changes nothing of the case."""

    timeline_only: ClassVar[frozenset[str]] = frozenset({"comment"})

    action: Literal["comment"]
    comment: Note


class Link(ActionBody):
    """Link more of the patient's events (every workflow's)."""

    action: Literal["link"]


# The action name a case's first transition records.
OPEN = "open"

# What a workflow's own rules compute when a case opens (action OPEN) or an action is
# taken: the fields to set on top of what the client sent (a due time), from the action, the
# case's fields with the client's changes applied, the time and the tenant's policy. It may
# refuse the action (a CarelogError: a submission with documents missing).
Computed = Callable[[str, Mapping[str, Any], datetime, Mapping[str, Any]], dict[str, Any]]
# Which state an action with outcomes leads to: from the action, the state it starts from
# and the case's fields after it.
StateRule = Callable[[str, str, Mapping[str, Any]], str]


@dataclass(frozen=True, slots=True)
class Workflow:
    """One workflow: its table, its rules and its queue columns."""

    machine: Machine
    columns: Callable[[str, Mapping[str, Any]], QueueColumns]
    computed: Computed
    # The tenant policy's defaults (e.g. response targets); a tenant's overrides go on top.
    default_policy: Mapping[str, Any]
    # Which SMART resource type it is, for the scope mapping (Task, Claim).
    fhir_resource: str
    # The actions whose ``computed`` reads the tenant's policy (None: every one); the
    # others are taken without reading it.
    policy_actions: frozenset[str] | None = None
    # What a case is about, in a few words (the context's open items): from its fields.
    headline: Callable[[Mapping[str, Any]], str] = lambda data: str(
        data.get("reason") or data.get("description") or ""
    )
    # The state an action with outcomes leads to (None: the workflow has none).
    state_rule: StateRule | None = None
    # Its cases name a payer whose rules (the tenant's payer table) the policy carries.
    per_payer: bool = False

    @property
    def name(self) -> str:
        return self.machine.name

    def reads_policy(self, action: str) -> bool:
        """Whether taking ``action`` needs the tenant's policy."""
        return self.policy_actions is None or action in self.policy_actions

    def next_state(self, action: Action, state: str, data: Mapping[str, Any]) -> str:
        """The state a case in ``state`` with fields ``data`` (after it) moves to."""
        picked = None
        if action.outcomes and self.state_rule is not None:
            picked = self.state_rule(action.name, state, data)
        return self.machine.target(action, state, picked)

    def queue_columns(
        self, state: str, data: Mapping[str, Any], opened_at: datetime
    ) -> QueueColumns:
        """The columns a case's queues sort and filter it by."""
        return queue_columns(self.columns, state, data, opened_at)

    def document(self, case: Case, *, now: datetime, actor: Actor | None) -> dict[str, Any]:
        """The case as the API answers it: its own fields, its status and clock, the actions
        ``actor`` may take now, and (when it was read with it) its timeline."""
        fields = {k: v for k, v in case.data.items() if k not in _CASE_KEYS}
        document: dict[str, Any] = {
            "id": case.case_id,
            "workflow": case.workflow,
            "patient_id": case.patient_id,
            "status": case.state,
            "version": case.version,
            **fields,
            "links": list(case.data.get("links") or ()),
            "labels": list(case.labels),
            "is_open": case.is_open,
            "due_at": _utc(case.columns.due_at),
            "overdue": case.overdue(now),
            "opened_at": _utc(case.opened_at),
            "opened_by": case.opened_by,
            "opened_by_kind": case.opened_by_kind,
            "updated_at": _utc(case.updated_at),
        }
        if actor is not None:
            document["allowed_actions"] = self.machine.allowed(
                case.state, actor, opened_by=case.opened_by
            )
        if case.timeline:
            document["timeline"] = [record.as_json() for record in case.timeline]
        return document


_JSON: TypeAdapter[Any] = TypeAdapter(Any)


def _in_utc(value: Any) -> Any:
    """``value`` with every aware time in it moved to UTC (its instant unchanged)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo is not None else value
    if isinstance(value, dict):
        return {k: _in_utc(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_in_utc(v) for v in value]
    return value


# Keys of a case's data the document gives a place of its own.
_CASE_KEYS = frozenset({"links", "due_at"})


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


class TimelineEntry(BaseModel):
    """One transition of a case: who took which action when, from and to which state, why,
    and what it changed."""

    event_id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    from_: str | None = Field(alias="from")
    to: str
    reason: str | None
    note: str | None = None
    changes: dict[str, Any]


class CaseView(BaseModel):
    """What every case answers with (the OpenAPI shape; each workflow adds its fields)."""

    id: str = Field(description="The case id (a UUID).")
    workflow: str
    patient_id: str
    status: str = Field(description="The case's state in its workflow's table.")
    version: int = Field(description="How many transitions it has had; also its ETag.")
    links: list[int] = Field(description="Ids of the patient's events the case links.")
    labels: list[str]
    is_open: bool
    due_at: datetime | None = Field(description="When its clock runs out (None: no clock runs).")
    overdue: bool
    opened_at: datetime
    opened_by: str
    opened_by_kind: str
    updated_at: datetime
    allowed_actions: list[str] = Field(
        description="The actions the caller may take on it now (see the workflow's table)."
    )
    timeline: list[TimelineEntry] | None = Field(
        default=None, description="Every transition, oldest first (on a read of one case)."
    )
