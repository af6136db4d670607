"""``carelog generate``: write a synthetic population as NDJSON (no database needed)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from carelog.synthetic.population import DEFAULT_END, SOURCE, cohort

if TYPE_CHECKING:
    from carelog.domain.events import PatientEvent


class Format(StrEnum):
    """What the lines are: Carelog's request bodies, or FHIR R4 resources."""

    CARELOG = "carelog"
    FHIR = "fhir"


def _end(text: str) -> datetime:
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a date like 2026-01-01") from None
    return day.replace(tzinfo=UTC)


def _kind(record: dict[str, Any]) -> str:
    return (
        "correction" if "corrects" in record else "retraction" if "retracts" in record else "event"
    )


def to_events(
    records: Iterable[tuple[datetime, dict[str, Any]]], first_id: int = 1
) -> list[PatientEvent]:
    """Timed records as the service would store them: ids from ``first_id`` in order,
    recorded when they were made; a correction or retraction supersedes the event it names,
    keeping its patient, type, clinical time and labels."""
    from carelog.domain.events import PatientEvent
    from carelog.domain.fhir.codes import AMENDED, RETRACTED

    by_key: dict[str, PatientEvent] = {}
    events = []
    for number, (when, record) in enumerate(records, first_id):
        named = record.get("corrects") or record.get("retracts")
        if named is None:
            event = PatientEvent(
                id=number,
                patient_id=record["patient_id"],
                event_type=record["event_type"],
                payload=record["payload"],
                occurred_at=datetime.fromisoformat(record["occurred_at"]),
                created_at=when,
                recorded_by=SOURCE,
                source=record.get("source"),
                labels=record.get("labels", []),
            )
        else:
            target = by_key[named]
            event = target.model_copy(
                update={
                    "id": number,
                    "payload": record.get("payload", {}),
                    "created_at": when,
                    "status": AMENDED if "corrects" in record else RETRACTED,
                    "supersedes": target.id,
                }
            )
        by_key[record["idempotency_key"]] = event
        events.append(event)
    return events


def _carelog_lines(
    patients: Iterator[Any], counts: Counter[str], dumps: Callable[[Any], str]
) -> Iterator[str]:
    for patient in patients:
        for record in patient.records():
            counts[_kind(record)] += 1
            yield dumps(record)


def _fhir_lines(
    patients: Iterator[Any], counts: Counter[str], dumps: Callable[[Any], str]
) -> Iterator[str]:
    from carelog.domain.fhir import history, patient_resource

    next_id = 1
    for patient in patients:
        timed = patient.timed_records()
        counts.update(_kind(record) for _, record in timed)
        events = to_events(timed, next_id)
        next_id += len(events)
        yield dumps(patient_resource(patient.id))
        for resource in history(events):
            counts["resource"] += 1
            yield dumps(resource)


def generate(
    patients: Annotated[int, typer.Option(help="How many patients.", min=1, max=10_000_000)] = 100,
    seed: Annotated[int, typer.Option(help="The same seed gives the same population.", min=0)] = 1,
    years: Annotated[int, typer.Option(help="Years of care per patient.", min=1, max=30)] = 3,
    end: Annotated[
        str, typer.Option(help="The day the records stop (UTC), e.g. 2026-01-01.")
    ] = DEFAULT_END.strftime("%Y-%m-%d"),
    format_: Annotated[
        Format,
        typer.Option(
            "--format", help="carelog: POST /patient-events bodies; fhir: FHIR R4 resources."
        ),
    ] = Format.CARELOG,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: standard output)."),
    ] = None,
) -> None:
    """Write synthetic patients' records as NDJSON, one record per line.

    --format carelog (the default): a record is an event (the body of POST /patient-events
    with its idempotency_key), a correction ({"idempotency_key", "corrects": <an earlier
    record's key>, "payload", "reason"}) or a retraction ({"idempotency_key", "retracts":
    <key>, "reason"}), in the order they were made.

    --format fhir: FHIR R4 resources as Bulk Data NDJSON, each patient's Patient first, then
    its resources; a correction is the resource's next version (same id, higher
    meta.versionId), a retraction its entered-in-error version. Event ids count from 1.

    Patients are S<seed>-P<number>; nothing in them is real.
    """
    stop = _end(end)
    counts: Counter[str] = Counter()
    handle: TextIO = output.open("w", encoding="utf-8") if output else sys.stdout
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines_of = _fhir_lines if format_ is Format.FHIR else _carelog_lines
    try:
        lines = []
        for line in lines_of(cohort(patients, seed, end=stop, years=years), counts, dumps):
            lines.append(line)
            if len(lines) >= 10_000:
                handle.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            handle.write("\n".join(lines) + "\n")
    finally:
        if output:
            handle.close()
    resources = f" as {counts['resource'] + patients} FHIR resources" if counts["resource"] else ""
    typer.echo(
        f"{patients} patients: {counts['event']} events, {counts['correction']} corrections, "
        f"{counts['retraction']} retractions{resources}",
        err=True,
    )
