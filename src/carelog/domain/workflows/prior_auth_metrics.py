"""The prior-authorization figures CMS-0057-F has payers publish each year, computed from
the transition events in the log (not from the case rows), per urgency.

Definitions (each over the cases whose *initial determination* falls in ``[since,
until)``; a determination is a ``respond`` that leaves the case approved, partially
approved, modified or denied, not pended):

- ``requests``: how many such cases.
- ``approved``: the initial determination certified every line (``approved``, or
  ``modified``: certified with a change); ``partially_approved``; ``denied``.
- ``approved_after_appeal``: of them, those an appeal's determination (before ``until``)
  approved (``approved`` or ``modified``).
- ``approved_after_extension``: those approved at the initial determination after the payer
  extended the review.
- Each count also as a percentage of ``requests`` (one decimal; None with no requests).
- ``decision_time``: from the case's first submission to its initial determination (the
  whole wait, pended time included), average and median, in seconds.
- ``decisions_after_due``: the determinations in the window (initial or on appeal) made
  after their due time (the time frame with any extension), whatever case they are of.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from carelog.domain.workflows.case import TransitionRecord, parse_time
from carelog.domain.workflows.prior_auth_rules import DECISIONS

URGENCIES = ("standard", "expedited")
_APPROVED = frozenset({"approved", "modified"})


@dataclass(slots=True)
class _Group:
    requests: int = 0
    approved: int = 0
    partially_approved: int = 0
    denied: int = 0
    approved_after_appeal: int = 0
    approved_after_extension: int = 0
    decisions_after_due: int = 0
    waits: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        counts = {
            "approved": self.approved,
            "partially_approved": self.partially_approved,
            "denied": self.denied,
            "approved_after_appeal": self.approved_after_appeal,
            "approved_after_extension": self.approved_after_extension,
        }
        figures: dict[str, Any] = {"requests": self.requests}
        for name, count in counts.items():
            figures[name] = count
            figures[f"{name}_percent"] = (
                round(100 * count / self.requests, 1) if self.requests else None
            )
        figures["decision_time"] = {
            "average_seconds": round(statistics.fmean(self.waits), 3) if self.waits else None,
            "median_seconds": round(statistics.median(self.waits), 3) if self.waits else None,
        }
        figures["decisions_after_due"] = self.decisions_after_due
        return figures


@dataclass(frozen=True, slots=True)
class Determination:
    """One decision of a case as the figures need it."""

    at: datetime
    state: str
    initial: bool
    late: bool
    extended: bool
    wait_seconds: float | None


def determinations(
    records: Sequence[TransitionRecord],
) -> tuple[str | None, str, list[Determination]]:
    """A case's payer, urgency and determinations, folded from its transitions in order."""
    payer: str | None = None
    urgency = "standard"
    first_submitted: datetime | None = None
    due: datetime | None = None
    extended = False
    found: list[Determination] = []
    for record in records:
        changes = record.changes
        if isinstance(changes.get("payer"), dict):
            payer = changes["payer"].get("id")
        urgency = str(changes.get("urgency", urgency))
        if record.action in ("submit", "appeal"):
            extended = False
            if record.action == "submit" and first_submitted is None:
                first_submitted = record.occurred_at
        if record.action == "extend":
            extended = True
        if record.action == "respond" and record.to_state in DECISIONS:
            initial = not found
            wait = None
            if initial and first_submitted is not None:
                wait = (record.occurred_at - first_submitted).total_seconds()
            late = due is not None and record.occurred_at > due
            found.append(
                Determination(record.occurred_at, record.to_state, initial, late, extended, wait)
            )
        if "due_at" in changes:
            due = parse_time(changes["due_at"])
    return payer, urgency, found


def metrics(
    cases: Iterable[Sequence[TransitionRecord]],
    *,
    since: datetime,
    until: datetime,
    payer_id: str | None = None,
) -> dict[str, Any]:
    """The figures (see the module's text) over the cases' transitions."""
    groups = {urgency: _Group() for urgency in URGENCIES}
    for records in cases:
        payer, urgency, found = determinations(records)
        if (payer_id is not None and payer != payer_id) or urgency not in groups:
            continue
        group = groups[urgency]
        group.decisions_after_due += sum(1 for d in found if d.late and since <= d.at < until)
        if not found or not since <= found[0].at < until:
            continue
        first = found[0]
        group.requests += 1
        if first.state in _APPROVED:
            group.approved += 1
            group.approved_after_extension += first.extended
        elif first.state == "partially_approved":
            group.partially_approved += 1
        else:
            group.denied += 1
        if any(d.state in _APPROVED and d.at < until for d in found[1:]):
            group.approved_after_appeal += 1
        if first.wait_seconds is not None:
            group.waits.append(first.wait_seconds)
    return {urgency: group.as_json() for urgency, group in groups.items()}
