"""FHIR Bulk Data export, the pure half: the kick-off's parameters checked, a patient's
resources as the export writes them, and the completion manifest (the Bulk Data Access IG,
https://hl7.org/fhir/uv/bulkdata/export.html).

What an export holds: for each patient the key may reach, the Patient and the current
version of each resource its events map to (as ``GET /patients/{id}/fhir``: retracted ones
left out, labels the key may not see left out), as recorded by the kick-off's
``transactionTime``. ``_since``: only resources whose ``meta.lastUpdated`` (the recorded
time of their current version) is after it, and the Patient of each patient that has one.
``_type``: only those resource types. System level (``/$export``) and patient level
(``/Patient/$export``) give the same: every Carelog resource is in a patient's compartment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from carelog.domain.events import PatientEvent
from carelog.domain.fhir.history import Link, current_heads
from carelog.domain.fhir.imported import Issue
from carelog.domain.fhir.resources import Resource, Version, patient_resource, to_resources

# The resource types an export can hold (what ``to_resources`` makes, and the Patient).
EXPORT_TYPES = frozenset(
    {
        "AllergyIntolerance", "Basic", "Condition", "DocumentReference", "Encounter",
        "MedicationStatement", "Observation", "Patient",
    }
)  # fmt: skip
NDJSON_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """A kick-off's parameters, checked: the types (None: all) and since."""

    types: frozenset[str] | None
    since: datetime | None


def read_kickoff(
    *, prefer: str | None, output_format: str | None, since: str | None, types: str | None
) -> ExportRequest | list[Issue]:
    """The kick-off's parameters, or the issues that refuse it (an OperationOutcome's,
    answered 400): ``Prefer: respond-async`` is required, ``_outputFormat`` is NDJSON (the
    default), ``_since`` an instant with its zone, ``_type`` a comma-separated list of
    types the export holds."""
    issues = []
    preferences = {p.strip().lower() for p in (prefer or "").split(",")}
    if "respond-async" not in preferences:
        issues.append(Issue("Prefer", "the export is asynchronous: send Prefer: respond-async"))
    if output_format is not None and output_format not in NDJSON_FORMATS:
        issues.append(
            Issue(
                "_outputFormat",
                "only application/fhir+ndjson is served",
                "not-supported",
            )
        )
    when = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            when = None
            issues.append(Issue("_since", "not a FHIR instant (2026-01-05T08:00:00Z)", "value"))
        else:
            if when.tzinfo is None:
                issues.append(Issue("_since", "an instant needs its time zone", "value"))
    wanted = None
    if types is not None:
        wanted = frozenset(t.strip() for t in types.split(",") if t.strip())
        unknown = sorted(wanted - EXPORT_TYPES)
        if unknown or not wanted:
            listed = ", ".join(unknown)[:200] or "none"
            issues.append(
                Issue(
                    "_type",
                    f"not a type this export holds: {listed} (it holds "
                    f"{', '.join(sorted(EXPORT_TYPES))})",
                    "not-supported",
                )
            )
    if issues:
        return issues
    return ExportRequest(wanted, when)


def patient_export(
    patient_id: str,
    events: Iterable[PatientEvent],
    *,
    types: frozenset[str] | None,
    since: datetime | None,
) -> list[Resource]:
    """The patient's resources in an export (see the module's docstring): its Patient
    first, when asked for and when anything else of it is in, or nothing is filtered by
    time."""
    events = list(events)
    links = [links_of(event) for event in events]
    heads = current_heads(links)
    by_id = {event.id: event for event in events}
    found = heads_export(heads, [by_id[event_id] for event_id in heads], types=types, since=since)
    if with_patient(links, types=types, since=since):
        found.insert(0, patient_resource(patient_id))
    return found


def links_of(event: PatientEvent) -> Link:
    """What an export needs of an event before its content (``history.current_heads``)."""
    return Link(event.id, event.supersedes, event.status, event.created_at)


def heads_export(
    heads: Mapping[int, tuple[int, int]],
    events: Iterable[PatientEvent],
    *,
    types: frozenset[str] | None,
    since: datetime | None,
) -> list[Resource]:
    """The resources of current versions ``events`` (each one's logical id and number in
    ``heads``), in the order given, without the Patient: as :func:`patient_export` writes
    them, for an export that reads a long history's current versions a page at a time."""
    found = []
    for event in events:
        if since is not None and event.created_at <= since:
            continue
        logical_id, number = heads[event.id]
        for resource in to_resources(Version(event, event, logical_id, number)):
            if types is None or resource["resourceType"] in types:
                found.append(resource)
    return found


def with_patient(
    links: Iterable[Link], *, types: frozenset[str] | None, since: datetime | None
) -> bool:
    """Whether a patient's export holds its Patient: when asked for, and when nothing is
    filtered by time or anything of the patient was recorded after ``since`` (which holds
    whenever any other resource of it is in)."""
    wanted = types is None or "Patient" in types
    return wanted and (since is None or any(link.recorded_at > since for link in links))


def manifest(
    *,
    transaction_time: datetime,
    request: str,
    files: Sequence[tuple[str, int, int]],
    url_of: Mapping[tuple[str, int], str],
) -> dict[str, Any]:
    """The completion manifest: ``files`` (type, part, count) at ``url_of[(type, part)]``,
    each behind the same access token as the kick-off."""
    return {
        "transactionTime": transaction_time.isoformat().replace("+00:00", "Z"),
        "request": request,
        "requiresAccessToken": True,
        "output": [
            {"type": kind, "url": url_of[(kind, part)], "count": count}
            for kind, part, count in files
        ],
        "error": [],
    }
