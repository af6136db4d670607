"""The answers to an import: an OperationOutcome of what became of each entry or line
(``POST /fhir/$import``, or a failed transaction), and a ``batch-response`` or
``transaction-response`` Bundle (``POST /fhir``), as plain dicts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from carelog.domain.fhir.imported import Issue

Resource = dict[str, Any]
Fate = Literal["created", "corrected", "unchanged", "failed"]
_STATUS = {
    "created": "201 Created",
    "corrected": "200 OK",
    "unchanged": "200 OK",
    "failed": "400 Bad Request",
}
# A failed entry's status, by its first issue's code (400 otherwise).
_FAILED_STATUS = {
    "forbidden": "403 Forbidden",
    "conflict": "409 Conflict",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one entry or line: ``created`` (stored), ``corrected`` (a new version
    of a resource imported before: a correction of its event), ``unchanged`` (the same
    content was already there) or ``failed`` (its ``issues``). ``location`` is where the
    stored resource is, ``Observation/123/_history/1`` as FHIR wants it; ``where`` says
    which entry or line (``Bundle.entry[3]``, ``line 7``)."""

    where: str
    fate: Fate
    location: str | None = None
    issues: tuple[Issue, ...] = ()


def _issue(issue: Issue, where: str) -> Resource:
    diagnostics = issue.message
    if not issue.location.startswith(where):
        diagnostics = f"{where}: {diagnostics}"  # an NDJSON line's resource path
    return {
        "severity": "error",
        "code": issue.code,
        "diagnostics": diagnostics,
        "expression": [issue.location],
    }


def _issues(outcome: Outcome) -> list[Resource]:
    found = outcome.issues or (Issue(outcome.where, "it could not be stored", "processing"),)
    return [_issue(issue, outcome.where) for issue in found]


def operation_outcome(outcomes: Sequence[Outcome]) -> Resource:
    """One error issue per issue of a failed entry, and an informational summary (``3
    created, 1 unchanged, 2 failed``; ``1 corrected`` after the created when there are
    corrections): an import of a million lines says each failure, not each success."""
    issues = [issue for o in outcomes if o.fate == "failed" for issue in _issues(o)]
    issues.append(_summary(outcomes))
    return {"resourceType": "OperationOutcome", "issue": issues}


def _summary(outcomes: Sequence[Outcome]) -> Resource:
    return _said(Counter(outcome.fate for outcome in outcomes))


def _said(counts: Counter[Fate]) -> Resource:
    fates: tuple[Fate, ...] = ("created", "corrected", "unchanged", "failed")
    summary = ", ".join(
        f"{counts[fate]} {fate}" for fate in fates if fate != "corrected" or counts[fate]
    )
    return {"severity": "information", "code": "informational", "diagnostics": summary}


def _entry(outcome: Outcome) -> Resource:
    status = _STATUS[outcome.fate]
    if outcome.fate == "failed" and outcome.issues:
        status = _FAILED_STATUS.get(outcome.issues[0].code, status)
    response: Resource = {"status": status}
    if outcome.location is not None:
        response["location"] = outcome.location
        version = outcome.location.rpartition("/_history/")[2]
        if "/_history/" in outcome.location and version:
            response["etag"] = f'W/"{version}"'
    if outcome.fate == "failed":
        response["outcome"] = {"resourceType": "OperationOutcome", "issue": _issues(outcome)}
    return {"response": response}


def response_bundle(kind: Literal["batch", "transaction"], outcomes: Sequence[Outcome]) -> Resource:
    """The ``batch-response`` or ``transaction-response`` Bundle: one entry per request
    entry, in order. A transaction is all or nothing: with any failed entry its answer is
    :func:`operation_outcome` (FHIR answers a failed transaction with one OperationOutcome),
    which this gives in that case."""
    if kind == "transaction" and any(o.fate == "failed" for o in outcomes):
        return operation_outcome(outcomes)
    return {
        "resourceType": "Bundle",
        "type": f"{kind}-response",
        "entry": [_entry(outcome) for outcome in outcomes],
    }


# The most lines an NDJSON import's answer names one by one (failures, then successes): a
# million-line import answers with its failures and its summary, not a line each.
MAX_LINES_SAID = 10_000


@dataclass(slots=True)
class LineTally:
    """What became of an NDJSON import's lines, kept as they are stored: every fate
    counted, the first ``max_lines`` failures and the first other lines kept to be named."""

    max_lines: int = MAX_LINES_SAID
    counts: Counter[Fate] = field(default_factory=Counter)
    failed: list[Outcome] = field(default_factory=list)
    others: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        """Count ``outcome`` (and keep it, if it is among the first)."""
        self.counts[outcome.fate] += 1
        kept = self.failed if outcome.fate == "failed" else self.others
        if len(kept) < self.max_lines:
            kept.append(outcome)

    @property
    def lines(self) -> int:
        """How many lines were counted."""
        return sum(self.counts.values())


def ndjson_outcome(tally: LineTally, *, note: str | None = None) -> Resource:
    """The answer to an NDJSON import (``POST /fhir/$import``): an error issue per issue of a
    failed line (``expression`` the resource path, ``diagnostics`` starting ``line 7:``), an
    information issue per other line (``line 3: created Observation/r1/_history/1``), at
    most ``tally.max_lines`` lines named in all (failures first; one issue says how many
    more were not), then the summary (``3 created, 1 unchanged, 2 failed``) and ``note``, an
    error issue, if the import stopped early."""
    said_failed = sorted(tally.failed, key=_line)
    said_others = tally.others[: max(0, tally.max_lines - len(said_failed))]
    said_others.sort(key=_line)
    issues = [issue for o in said_failed for issue in _issues(o)]
    for outcome in said_others:
        where = f" {outcome.location}" if outcome.location else ""
        issues.append(
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": f"{outcome.where}: {outcome.fate}{where}",
            }
        )
    unsaid = tally.lines - len(said_failed) - len(said_others)
    if unsaid:
        more_failed = tally.counts["failed"] - len(said_failed)
        issues.append(
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": f"{unsaid} more lines not listed ({more_failed} of them failed)",
            }
        )
    issues.append(_said(tally.counts))
    if note is not None:
        issues.append({"severity": "error", "code": "too-long", "diagnostics": note})
    return {"resourceType": "OperationOutcome", "issue": issues}


def _line(outcome: Outcome) -> int:
    # "line 7" -> 7 (anything else first).
    number = outcome.where.rpartition(" ")[2]
    return int(number) if number.isdigit() else -1
