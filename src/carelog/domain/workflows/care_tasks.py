"""Care tasks: a care-coordination copilot hands work to a care team.

States follow FHIR R4 ``Task.status`` (with underscores): ``requested -> accepted ->
in_progress -> completed``; ``rejected`` from requested; ``on_hold <-> in_progress`` (and
from accepted); ``failed`` from in_progress; ``cancelled`` before the work is done (from
requested, accepted or on_hold). Closed: completed, rejected, cancelled, failed.

Who: any principal opens a task, comments, links events and cancels its own (an agent only
its own); the people of the care team (``user`` principals) and services accept, reject,
start, hold, resume, complete or fail it. Reassigning it or changing its due time or
priority overwrites what others read, so those need ``If-Match`` (428 without).

The queue is ordered by priority (``stat``, ``asap``, ``urgent``, ``routine``: FHIR's
request priorities), then by due time (a task without one by the time it was opened). A
task is overdue when it is open and its due time has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from carelog.domain.limits import ClientText, ClinicalTime
from carelog.domain.principals import PrincipalKind
from carelog.domain.workflows.case import QueueColumns, parse_time
from carelog.domain.workflows.definition import (
    ActionBody,
    Cancel,
    CaseView,
    Comment,
    Link,
    OpenBody,
    Reason,
    Workflow,
)
from carelog.domain.workflows.machine import AGENTS, Action, Machine

Priority = Literal["stat", "asap", "urgent", "routine"]
PRIORITY_RANK: dict[str, int] = {"stat": 0, "asap": 1, "urgent": 2, "routine": 3}
# A care-team role (care-manager, pharmacist...) or a principal's name (key:..., oidc:...).
Assignee = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@\-]{0,127}$")]
TEAM = frozenset({PrincipalKind.USER, PrincipalKind.SERVICE})
STATES = (
    "requested", "accepted", "in_progress", "on_hold", "completed", "rejected", "cancelled",
    "failed",
)  # fmt: skip
OPEN_STATES = frozenset({"requested", "accepted", "in_progress", "on_hold"})

MACHINE = Machine(
    name="care_task",
    states=STATES,
    open_states=OPEN_STATES,
    initial="requested",
    actions=(
        Action("accept", frozenset({"requested"}), "accepted", kinds=TEAM,
               description="The team takes the task on."),
        Action("reject", frozenset({"requested"}), "rejected", kinds=TEAM, needs_reason=True,
               description="The team will not do it (say why)."),
        Action("start", frozenset({"accepted"}), "in_progress", kinds=TEAM,
               description="Work begins."),
        Action("hold", frozenset({"accepted", "in_progress"}), "on_hold", kinds=TEAM,
               needs_reason=True, description="Paused (say why)."),
        Action("resume", frozenset({"on_hold"}), "in_progress", kinds=TEAM,
               description="Work goes on."),
        Action("complete", frozenset({"in_progress"}), "completed", kinds=TEAM,
               description="Done, with an optional outcome."),
        Action("fail", frozenset({"in_progress"}), "failed", kinds=TEAM, needs_reason=True,
               description="It could not be done (say why)."),
        Action("cancel", frozenset({"requested", "accepted", "on_hold"}), "cancelled",
               own_only=AGENTS, needs_reason=True,
               description="Withdrawn before it was done (an agent: only its own)."),
        Action("reassign", OPEN_STATES, needs_if_match=True,
               description="Hand it to another role or principal (If-Match)."),
        Action("reschedule", OPEN_STATES, needs_if_match=True,
               description="Change its due time or priority (If-Match)."),
        Action("comment", frozenset(STATES), description="A note on the timeline."),
        Action("link", OPEN_STATES, description="Link more of the patient's events."),
    ),
)  # fmt: skip


class CareTaskOpen(OpenBody):
    """Hand a task about a patient to the care team."""

    description: Annotated[ClientText, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="What is to be done."
    )
    assignee: Assignee = Field(description="A care-team role (care-manager) or a principal.")
    priority: Priority = "routine"
    due_at: ClinicalTime | None = Field(default=None, description="When it must be done by.")


class Accept(ActionBody):
    action: Literal["accept"]


class Reject(ActionBody):
    action: Literal["reject"]
    reason: Reason


class Start(ActionBody):
    action: Literal["start"]


class Hold(ActionBody):
    action: Literal["hold"]
    reason: Reason


class Resume(ActionBody):
    action: Literal["resume"]


class Complete(ActionBody):
    action: Literal["complete"]
    outcome: Annotated[ClientText, StringConstraints(min_length=1, max_length=2000)] | None = None


class Fail(ActionBody):
    action: Literal["fail"]
    reason: Reason


class Reassign(ActionBody):
    action: Literal["reassign"]
    assignee: Assignee


class Reschedule(ActionBody):
    # At least one of the two (a null is not a value here).
    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["due_at"]}, {"required": ["priority"]}]}
    )

    action: Literal["reschedule"]
    due_at: ClinicalTime | SkipJsonSchema[None] = None
    priority: Priority | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _changes_something(self) -> Reschedule:
        if self.due_at is None and self.priority is None:
            raise ValueError("give a new due_at, a new priority, or both")
        return self


CareTaskAction = Annotated[
    Accept
    | Reject
    | Start
    | Hold
    | Resume
    | Complete
    | Fail
    | Cancel
    | Reassign
    | Reschedule
    | Comment
    | Link,
    Field(discriminator="action"),
]


class CareTaskView(CaseView):
    """A care task: what, for whom on the team, how urgent, by when."""

    description: str
    assignee: str
    priority: Priority
    outcome: str | None = None


def columns(state: str, data: Mapping[str, Any]) -> QueueColumns:
    """Priority ranks the queue, then the due time; assignee is a filter."""
    due = parse_time(data.get("due_at"))
    return QueueColumns(
        rank=PRIORITY_RANK.get(str(data.get("priority")), 9),
        due_at=due if state in OPEN_STATES else None,
        sort_at=due,
        assignee=data.get("assignee"),
    )


def computed(
    action: str, data: Mapping[str, Any], now: datetime, policy: Mapping[str, Any]
) -> dict[str, Any]:
    """Nothing is derived: a task's due time is the one it was given."""
    del action, data, now, policy
    return {}


def headline(data: Mapping[str, Any]) -> str:
    """The priority, what is to be done and for whom."""
    return f"{data.get('priority')}: {data.get('description')} (assigned to {data.get('assignee')})"


WORKFLOW = Workflow(
    machine=MACHINE,
    columns=columns,
    computed=computed,
    default_policy={},
    fhir_resource="Task",
    policy_actions=frozenset(),
    headline=headline,
)
