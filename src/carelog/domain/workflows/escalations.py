"""Intake escalation: an intake agent asks a clinician to look at a patient.

States: ``open -> acknowledged -> resolved`` (with an outcome) or ``cancelled``; a resolved
escalation can be reopened (with a reason). Only a person (a ``user`` principal: a
clinician) acknowledges or resolves; agents open, comment, link and cancel their own.

The response target is the time a clinician has to acknowledge: from the time it was opened
(or reopened), by severity, per tenant (defaults: emergent 15 minutes, urgent 2 hours,
routine 2 days). The clock runs only while the escalation is ``open``: an acknowledged one is
no longer overdue. The queue is ordered by severity, then age (oldest first).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from carelog.domain.limits import ClientText
from carelog.domain.workflows.case import QueueColumns, parse_time
from carelog.domain.workflows.definition import (
    OPEN,
    ActionBody,
    Cancel,
    CaseView,
    Comment,
    Link,
    OpenBody,
    Reason,
    Workflow,
)
from carelog.domain.workflows.machine import AGENTS, ALL_KINDS, PEOPLE, Action, Machine

Severity = Literal["emergent", "urgent", "routine"]
SEVERITY_RANK: dict[str, int] = {"emergent": 0, "urgent": 1, "routine": 2}
DEFAULT_TARGETS: dict[str, int] = {"emergent": 15 * 60, "urgent": 2 * 3600, "routine": 2 * 86400}

MACHINE = Machine(
    name="escalation",
    states=("open", "acknowledged", "resolved", "cancelled"),
    open_states=frozenset({"open", "acknowledged"}),
    initial="open",
    actions=(
        Action(
            "acknowledge",
            frozenset({"open"}),
            "acknowledged",
            kinds=PEOPLE,
            description="A clinician takes it: the response target is met.",
        ),
        Action(
            "resolve",
            frozenset({"open", "acknowledged"}),
            "resolved",
            kinds=PEOPLE,
            description="A clinician closes it with an outcome.",
        ),
        Action(
            "cancel",
            frozenset({"open", "acknowledged"}),
            "cancelled",
            own_only=AGENTS,
            needs_reason=True,
            description="Withdrawn (an agent may cancel only one it opened).",
        ),
        Action(
            "reopen",
            frozenset({"resolved"}),
            "open",
            needs_reason=True,
            description="Open again; the response target starts again.",
        ),
        Action(
            "comment",
            frozenset({"open", "acknowledged", "resolved"}),
            kinds=ALL_KINDS,
            description="A note on the timeline by an agent or a person.",
        ),
        Action(
            "link",
            frozenset({"open", "acknowledged"}),
            description="Link more of the patient's events (a new vitals set).",
        ),
    ),
)


class EscalationOpen(OpenBody):
    """Open an escalation for a clinician to respond to."""

    severity: Severity
    reason: Annotated[ClientText, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="What the clinician should look at and why."
    )


class Acknowledge(ActionBody):
    action: Literal["acknowledge"]


class Resolve(ActionBody):
    action: Literal["resolve"]
    outcome: Annotated[ClientText, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="What was done (seen in clinic, advised, sent to the ED...)."
    )


class Reopen(ActionBody):
    action: Literal["reopen"]
    reason: Reason


class EscalationView(CaseView):
    """An escalation: its severity and reason, and the outcome once resolved."""

    severity: Severity
    reason: str
    outcome: str | None = None


EscalationAction = Annotated[
    Acknowledge | Resolve | Cancel | Reopen | Comment | Link, Field(discriminator="action")
]


def columns(state: str, data: Mapping[str, Any]) -> QueueColumns:
    """Severity ranks the queue; the response target counts only while ``open``."""
    due = parse_time(data.get("due_at")) if state == "open" else None
    return QueueColumns(rank=SEVERITY_RANK.get(str(data.get("severity")), 9), due_at=due)


def computed(
    action: str, data: Mapping[str, Any], now: datetime, policy: Mapping[str, Any]
) -> dict[str, Any]:
    """On opening (or reopening) the response target starts: due = now + target(severity)."""
    if action not in (OPEN, "reopen"):
        return {}
    severity = str(data["severity"])
    seconds = int(policy.get(severity, DEFAULT_TARGETS[severity]))
    return {"due_at": (now + timedelta(seconds=seconds)).isoformat()}


def headline(data: Mapping[str, Any]) -> str:
    """The severity and the reason."""
    return f"{data.get('severity')}: {data.get('reason')}"


WORKFLOW = Workflow(
    machine=MACHINE,
    columns=columns,
    computed=computed,
    default_policy=DEFAULT_TARGETS,
    fhir_resource="Task",
    policy_actions=frozenset({OPEN, "reopen"}),
    headline=headline,
)
