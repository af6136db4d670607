"""Prior authorization: an assistant tracks a request to a payer from draft to decision,
with every decision and time on the record.

States: ``draft -> submitted -> pended (the payer asks for more) -> submitted ...``; the
payer's decisions ``approved``, ``partially_approved``, ``modified``, ``denied``;
``denied`` (or ``partially_approved``) ``-> appealed -> approved | denied ...`` (overturned
or upheld); ``cancelled``; ``expired`` (an approval whose valid-until date has passed);
``error`` (the payer or clearinghouse could not process it; it can be submitted again).
Open: draft, submitted, pended, appealed, error.

A decision is per line (``respond``); the case's state follows its lines by the rule in
:mod:`.prior_auth_rules`, which also holds the clock. A denied line needs a specific reason
(CMS-0057-F, whatever the channel); an approval carries the authorization number and its
valid-from and valid-until dates. A new case gets the checklist of its payer's rules for its
service codes (:mod:`.payers`); linking an event of the patient to an item satisfies it
(``attach``), and ``submit`` is 409 ``requirements-not-met`` naming the open items.

Who: any principal with ``workflows:write`` takes every action (the assistant records what
the payer answered through PAS, X12 278, a portal or a fax); an agent cancels only its own
cases. ``update`` (a draft's fields) overwrites what others read, so it needs ``If-Match``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from carelog.domain.limits import ClinicalTime, documented, no_duplicates
from carelog.domain.workflows import prior_auth_rules as rules
from carelog.domain.workflows.definition import (
    MAX_LINKED_EVENT_ID,
    ActionBody,
    Cancel,
    Comment,
    Link,
    Note,
    OpenBody,
    Reason,
    Workflow,
)
from carelog.domain.workflows.machine import AGENTS, Action, Machine
from carelog.domain.workflows.payers import (
    Requirement,
)
from carelog.domain.workflows.prior_auth_fields import (
    Authorization,
    Channel,
    Diagnoses,
    LineDecision,
    Lines,
    PayerRef,
    Provider,
    Reference,
    Strict,
    Urgency,
    absent,
)
from carelog.errors import Conflict, ValidationFailed

STATES = (
    "draft", "submitted", "pended", "approved", "partially_approved", "modified", "denied",
    "appealed", "cancelled", "expired", "error",
)  # fmt: skip
OPEN_STATES = frozenset({"draft", "submitted", "pended", "appealed", "error"})
IN_REVIEW = frozenset({"submitted", "appealed"})

MACHINE = Machine(
    name="prior_auth",
    states=STATES,
    open_states=OPEN_STATES,
    initial="draft",
    actions=(
        Action("update", frozenset({"draft"}), needs_if_match=True,
               description="Change a draft's lines, diagnoses, urgency... (If-Match)."),
        Action("attach", frozenset(OPEN_STATES),
               description="Satisfy checklist items with events of the patient."),
        Action("submit", frozenset({"draft", "pended", "error"}), "submitted",
               description="Send it to the payer (409 while checklist items are open)."),
        Action("respond", IN_REVIEW, outcomes=frozenset(
            {"approved", "partially_approved", "modified", "denied", "pended", "cancelled"}),
               description="Record the payer's decision on each line."),
        Action("extend", IN_REVIEW, needs_reason=True,
               description="The payer extends its review (once, up to 14 days)."),
        Action("record_error", frozenset({"submitted"}), "error", needs_reason=True,
               description="The payer could not process it (say what it answered)."),
        Action("appeal", frozenset({"denied", "partially_approved"}), "appealed",
               needs_reason=True, description="Appeal the denied lines."),
        Action("expire", rules.APPROVALS, "expired",
               description="The approval's valid-until date has passed."),
        Action("cancel", frozenset(OPEN_STATES), "cancelled", own_only=AGENTS,
               needs_reason=True, description="Withdrawn (an agent: only its own)."),
        Action("comment", frozenset(STATES), description="A note on the timeline."),
        Action("link", frozenset(OPEN_STATES), description="Link more of the patient's events."),
    ),
)  # fmt: skip


class PriorAuthOpen(OpenBody):
    """Open a prior-authorization request (a draft) for a patient."""

    payer: PayerRef
    lines: Lines
    diagnosis_codes: Diagnoses = Field(description="ICD-10-CM codes (up to 12).")
    urgency: Urgency = "standard"
    ordering_provider: Provider
    channel: Channel
    tracking_number: Reference | None = Field(default=None, description="The payer's number.")
    notes: Note | None = None


class Update(ActionBody):
    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": [name]} for name in (
            "lines", "diagnosis_codes", "urgency", "ordering_provider", "channel", "notes")]}
    )  # fmt: skip

    action: Literal["update"]
    lines: Lines = absent()
    diagnosis_codes: Diagnoses = absent()
    urgency: Urgency = absent()
    ordering_provider: Provider = absent()
    channel: Channel = absent()
    notes: Note = absent()

    @model_validator(mode="after")
    def _changes_something(self) -> Update:
        if not self.changes():
            raise ValueError("give at least one field to change")
        return self


class Satisfy(Strict):
    item: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._\-]{1,140}$")]
    event_id: Annotated[int, Field(ge=1, le=MAX_LINKED_EVENT_ID)]


class Attach(ActionBody):
    action: Literal["attach"]
    satisfies: Annotated[
        list[Satisfy],
        BeforeValidator(no_duplicates),
        Field(min_length=1, max_length=100),
        documented(uniqueItems=True),
    ]

    def linked(self) -> list[tuple[str, int]]:
        found = [(f"satisfies.{i}.event_id", s.event_id) for i, s in enumerate(self.satisfies)]
        return [*super().linked(), *found]

    def apply(self, data: Mapping[str, Any]) -> dict[str, Any]:
        items = [dict(item) for item in data.get("checklist") or ()]
        by_id = {item["id"]: item for item in items}
        errors = [
            {"field": f"satisfies.{i}.item", "location": "body", "type": "unknown_item",
             "message": "no checklist item of this case has that id"}
            for i, s in enumerate(self.satisfies) if s.item not in by_id
        ]  # fmt: skip
        if errors:
            raise ValidationFailed("Satisfy the case's own checklist items.", errors=errors)
        for satisfy in self.satisfies:
            by_id[satisfy.item]["satisfied_by"] = satisfy.event_id
        return {"checklist": items}


class Submit(ActionBody):
    action: Literal["submit"]
    channel: Channel | None = None
    tracking_number: Reference | None = None


def _field_error(field: str, message: str, kind: str) -> dict[str, str]:
    return {"field": field, "location": "body", "message": message, "type": kind}


class Respond(ActionBody):
    action: Literal["respond"]
    decisions: Annotated[list[LineDecision], Field(min_length=1, max_length=50)]
    authorization: Authorization | None = Field(
        default=None, description="Needed when a line is approved and the case has none yet."
    )
    requested: Annotated[list[Requirement], Field(max_length=50)] | None = Field(
        default=None, description="What the payer asks for (with pended lines)."
    )
    respond_by: ClinicalTime | None = Field(
        default=None, description="When the payer wants it by (with pended lines)."
    )
    tracking_number: Reference | None = None

    def apply(self, data: Mapping[str, Any]) -> dict[str, Any]:
        lines = {line["sequence"]: dict(line) for line in data.get("lines") or ()}
        undecided = {s for s, line in lines.items()
                     if (line.get("decision") or {}).get("action") in (None, "pended")}  # fmt: skip
        errors = []
        for i, decision in enumerate(self.decisions):
            if decision.sequence not in lines:
                errors.append(
                    _field_error(f"decisions.{i}.sequence", "no line has it", "unknown_line")
                )
            elif decision.sequence not in undecided:
                errors.append(
                    _field_error(f"decisions.{i}.sequence", "already decided", "line_decided")
                )
        seen = [d.sequence for d in self.decisions]
        if len(seen) != len(set(seen)):
            errors.append(_field_error("decisions", "one decision a line", "line_repeated"))
        if missing := sorted(undecided - set(seen)):
            errors.append(
                _field_error("decisions", f"lines {missing} need a decision", "decision_missing")
            )
        review = data.get("review") or "initial"
        for d in self.decisions:
            if d.sequence in lines:
                stored = d.stored({"sequence"}) | {"review_action": rules.REVIEW_ACTIONS[d.action]}
                lines[d.sequence]["decision"] = stored | {"review": review}
        approving = any((line.get("decision") or {}).get("action") in rules.APPROVING
                        for line in lines.values())  # fmt: skip
        pended = any(d.action == "pended" for d in self.decisions)
        if self.authorization is not None and not approving:
            errors.append(
                _field_error("authorization", "no line is approved", "authorization_unexpected")
            )
        if self.authorization is None and approving and not data.get("authorization"):
            message = "an approval carries its number and valid_from/valid_until"
            errors.append(_field_error("authorization", message, "authorization_missing"))
        if (self.requested or self.respond_by) and not pended:
            errors.append(_field_error("requested", "only with a pended line", "not_pended"))
        have = {item["id"] for item in data.get("checklist") or ()}
        asked = [r.model_dump() | {"code": None, "source": "payer-request", "satisfied_by": None}
                 for r in self.requested or ()]  # fmt: skip
        for i, item in enumerate(asked):
            if item["id"] in have or [a["id"] for a in asked].count(item["id"]) > 1:
                errors.append(
                    _field_error(
                        f"requested.{i}.id", "the checklist has it already", "requirement_repeated"
                    )
                )
        if errors:
            raise ValidationFailed("The decision does not fit the case.", errors=errors)
        changes = self.stored({"action", "reason", "link_events", "decisions", "requested"})
        changes["lines"] = [lines[s] for s in sorted(lines)]
        if asked:
            changes["checklist"] = [*(data.get("checklist") or ()), *asked]
        return changes


class Extend(ActionBody):
    action: Literal["extend"]
    reason: Reason
    days: Annotated[int, Field(ge=1, le=rules.MAX_EXTENSION_DAYS)]

    def apply(self, data: Mapping[str, Any]) -> dict[str, Any]:
        if data.get("extension"):
            raise AlreadyExtended("The payer extended this review already (once a review).")
        return {"extension": {"days": self.days}}


class AlreadyExtended(Conflict):
    code = "already-extended"
    title = "Already extended"


class RecordError(ActionBody):
    action: Literal["record_error"]
    reason: Reason


class Appeal(ActionBody):
    action: Literal["appeal"]
    reason: Reason

    def apply(self, data: Mapping[str, Any]) -> dict[str, Any]:
        lines = []
        for line in data.get("lines") or ():
            decision = line.get("decision") or {}
            if decision.get("action") in ("not_certified", "partial"):
                line = {**line, "decision": None, "initial_decision": decision}
            lines.append(line)
        return {"lines": lines}


class Expire(ActionBody):
    action: Literal["expire"]


PriorAuthAction = Annotated[
    Update
    | Attach
    | Submit
    | Respond
    | Extend
    | RecordError
    | Appeal
    | Expire
    | Cancel
    | Comment
    | Link,
    Field(discriminator="action"),
]


def headline(data: Mapping[str, Any]) -> str:
    """The urgency, the payer and the services asked for."""
    codes = ", ".join(str(line.get("code")) for line in data.get("lines") or ())
    payer = (data.get("payer") or {}).get("name")
    return f"{data.get('urgency')} prior authorization with {payer}: {codes}"


WORKFLOW = Workflow(
    machine=MACHINE,
    columns=rules.columns,
    computed=rules.computed,
    default_policy={},
    fhir_resource="Claim",
    policy_actions=frozenset({"open", "update", "submit", "appeal"}),
    headline=headline,
    state_rule=rules.state_rule,
    per_payer=True,
)
