"""The answers to an import: an OperationOutcome of what became of each entry or line
(``POST /fhir/$import``, or a failed transaction), and a ``batch-response`` or
``transaction-response`` Bundle (``POST /fhir``), as plain dicts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
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
    counts = Counter(outcome.fate for outcome in outcomes)
    fates: tuple[Fate, ...] = ("created", "corrected", "unchanged", "failed")
    summary = ", ".join(
        f"{counts[fate]} {fate}" for fate in fates if fate != "corrected" or counts[fate]
    )
    issues.append({"severity": "information", "code": "informational", "diagnostics": summary})
    return {"resourceType": "OperationOutcome", "issue": issues}


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
