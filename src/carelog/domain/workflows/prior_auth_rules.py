"""Prior authorization's rules on a case's fields: how a payer's decision on each line sets
the case's state, the decision clock, and the checklist a submission must have satisfied.

The lines decide the state (``respond``). Each requested line gets a decision, the Da Vinci
PAS review actions (X12 306): ``certified`` (A1, in total), ``partial`` (A2, certified for
less than asked), ``not_certified`` (A3), ``pended`` (A4, more information needed),
``modified`` (A6, certified with a change: another code, quantity or dates) and
``cancelled`` (C). Over the lines not cancelled:

1. every line cancelled: the case is ``cancelled``;
2. any line pended: ``pended`` (lines already decided keep their decision);
3. every line certified: ``approved``; every line not certified: ``denied``;
4. every line certified or modified (one at least modified): ``modified``;
5. otherwise (a partial line, or some certified and some not): ``partially_approved``.

The clock: a submission starts the payer's decision time frame from the time it is
submitted (the payer's row, else 72 hours expedited and 7 calendar days standard,
CMS-0057-F); an appeal starts the payer's appeal time frame. The payer may extend a review
once, by up to 14 days, with a reason (recorded). While a case is ``pended`` the payer's
clock is stopped: the case waits on the provider, by the payer's ``respond_by`` when it
gave one (then that is the case's due time). A resubmission starts the full time frame
again from its own time: the payer has the whole frame for the information it asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from carelog.domain.workflows.case import QueueColumns, parse_time
from carelog.domain.workflows.definition import OPEN
from carelog.domain.workflows.payers import checklist, decision_seconds
from carelog.errors import Conflict, ValidationFailed

URGENCY_RANK = {"expedited": 0, "standard": 1}
# PAS review action codes (X12 306) of each line decision.
REVIEW_ACTIONS = {
    "certified": "A1", "partial": "A2", "not_certified": "A3", "pended": "A4",
    "modified": "A6", "cancelled": "C",
}  # fmt: skip
APPROVING = frozenset({"certified", "partial", "modified"})
DECISIONS = frozenset({"approved", "partially_approved", "modified", "denied"})
APPROVALS = frozenset({"approved", "partially_approved", "modified"})
# States where a clock runs: the payer's (a review), the provider's (pended, respond_by).
CLOCKED = frozenset({"submitted", "appealed", "pended"})
MAX_EXTENSION_DAYS = 14


class RequirementsNotMet(Conflict):
    """A submission with checklist items nobody has satisfied yet."""

    code = "requirements-not-met"
    title = "Requirements not met"

    def __init__(self, open_items: list[dict[str, Any]]) -> None:
        names = ", ".join(item["id"] for item in open_items)
        super().__init__(
            f"Link an event for each open checklist item before submitting: {names}.",
            extensions={"open_items": open_items},
        )


class NotExpired(Conflict):
    """``expire`` on an approval whose valid-until date has not passed."""

    code = "authorization-still-valid"
    title = "Authorization still valid"


def state_of_lines(lines: Sequence[Mapping[str, Any]]) -> str:
    """The case's state its lines' decisions make (the rule above)."""
    # A line without a decision yet (after an appeal, or a partial answer) waits as pended.
    actions = [(line.get("decision") or {}).get("action") or "pended" for line in lines]
    kept = [action for action in actions if action != "cancelled"]
    if not kept:
        return "cancelled"
    if "pended" in kept:
        return "pended"
    if all(action == "certified" for action in kept):
        return "approved"
    if all(action == "not_certified" for action in kept):
        return "denied"
    if all(action in ("certified", "modified") for action in kept):
        return "modified"
    return "partially_approved"


def state_rule(action: str, state: str, data: Mapping[str, Any]) -> str:
    """The state a ``respond`` leads to: the one its lines make."""
    del action, state
    return state_of_lines(list(data.get("lines") or ()))


def columns(state: str, data: Mapping[str, Any]) -> QueueColumns:
    """Urgency ranks the queue, then the due time; the payer is a filter."""
    due = parse_time(data.get("due_at")) if state in CLOCKED else None
    return QueueColumns(
        rank=URGENCY_RANK.get(str(data.get("urgency")), 9),
        due_at=due,
        sort_at=due,
        payer_id=(data.get("payer") or {}).get("id"),
    )


def _error(field: str, message: str, kind: str = "value_error") -> ValidationFailed:
    return ValidationFailed(
        message, errors=[{"field": field, "location": "body", "message": message, "type": kind}]
    )


def _lines_with_rules(data: Mapping[str, Any], payer: Mapping[str, Any] | None) -> dict[str, Any]:
    """The lines numbered and marked with whether the payer needs authorization for them,
    and the checklist for them (items already satisfied, and the payer's requests, kept)."""
    lines = list(data.get("lines") or ())
    needed, items = checklist(payer, [str(line["code"]) for line in lines])
    before = {item["id"]: item for item in data.get("checklist") or ()}
    kept = [item for item in before.values() if item.get("source") != "payer"]
    for item in items:
        if item["id"] in before:
            item["satisfied_by"] = before[item["id"]].get("satisfied_by")
    numbered = [
        {**line, "sequence": index, "requires_auth": needed[str(line["code"])], "decision": None}
        for index, line in enumerate(lines, start=1)
    ]
    return {"lines": numbered, "checklist": [*items, *kept] or None}


def _review_clock(now: datetime, data: Mapping[str, Any], payer: Any, *, appeal: bool) -> str:
    seconds = decision_seconds(payer, str(data["urgency"]), appeal=appeal)
    return (now + timedelta(seconds=seconds)).isoformat()


def computed(
    action: str, data: Mapping[str, Any], now: datetime, policy: Mapping[str, Any]
) -> dict[str, Any]:
    """What the rules set (and refuse) when an action is taken; see the module's text."""
    payer = policy.get("payer")
    if action == OPEN:
        found = dict(data["payer"])
        if "name" not in found:
            if payer is None:
                raise _error(
                    "payer.name",
                    "the payer is not in the payer table: give its name",
                    "unknown_payer",
                )
            found["name"] = payer["name"]
        return {"payer": found, **_lines_with_rules(data, payer)}
    if action == "update":
        changed = {"lines": [
            {k: v for k, v in line.items() if k not in ("sequence", "requires_auth", "decision")}
            for line in data.get("lines") or ()
        ], "checklist": data.get("checklist")}  # fmt: skip
        return _lines_with_rules(changed, payer)
    if action == "submit":
        open_items = [
            {"id": item["id"], "description": item["description"], "kind": item["kind"]}
            for item in data.get("checklist") or ()
            if item.get("satisfied_by") is None
        ]
        if open_items:
            raise RequirementsNotMet(open_items)
        review = str(data.get("review") or "initial")
        return {
            "review": review,
            "submitted_at": now.isoformat(),
            "first_submitted_at": data.get("first_submitted_at") or now.isoformat(),
            "due_at": _review_clock(now, data, payer, appeal=review == "appeal"),
            "extension": None,
            "respond_by": None,
        }
    if action == "appeal":
        return {
            "review": "appeal",
            "appealed_at": now.isoformat(),
            "submitted_at": now.isoformat(),
            "due_at": _review_clock(now, data, payer, appeal=True),
            "extension": None,
            "respond_by": None,
        }
    if action == "extend":
        due = parse_time(data.get("due_at"))
        assert due is not None  # a review's clock runs in every state extend is taken from
        days = int(data["extension"]["days"])
        return {"due_at": (due + timedelta(days=days)).isoformat()}
    if action == "respond":
        decided = state_of_lines(list(data.get("lines") or ())) != "pended"
        return {
            "decided_at": now.isoformat() if decided else None,
            "due_at": None if decided else data.get("respond_by"),
        }
    if action == "expire":
        until = (data.get("authorization") or {}).get("valid_until")
        if until is None or now.astimezone(UTC).date().isoformat() <= str(until):
            raise NotExpired(f"The authorization is valid until {until}: it has not expired.")
    return {}
