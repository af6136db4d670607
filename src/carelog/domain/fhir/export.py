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
from carelog.domain.fhir.history import current
from carelog.domain.fhir.imported import Issue
from carelog.domain.fhir.resources import Resource, patient_resource, to_resources

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
    found = []
    for version in current(events):
        if since is not None and version.event.created_at <= since:
            continue
        for resource in to_resources(version):
            if types is None or resource["resourceType"] in types:
                found.append(resource)
    changed = since is None or bool(found) or _changed_since(events, since)
    if (types is None or "Patient" in types) and changed:
        found.insert(0, patient_resource(patient_id))
    return found


def _changed_since(events: Iterable[PatientEvent], since: datetime) -> bool:
    return any(event.created_at > since for event in events)


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
