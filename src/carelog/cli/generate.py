"""``carelog generate``: write a synthetic population as NDJSON (no database needed)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer

from carelog.synthetic.population import DEFAULT_END, population


def _end(text: str) -> datetime:
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a date like 2026-01-01") from None
    return day.replace(tzinfo=UTC)


def generate(
    patients: Annotated[int, typer.Option(help="How many patients.", min=1, max=10_000_000)] = 100,
    seed: Annotated[int, typer.Option(help="The same seed gives the same population.", min=0)] = 1,
    years: Annotated[int, typer.Option(help="Years of care per patient.", min=1, max=30)] = 3,
    end: Annotated[
        str, typer.Option(help="The day the records stop (UTC), e.g. 2026-01-01.")
    ] = DEFAULT_END.strftime("%Y-%m-%d"),
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: standard output)."),
    ] = None,
) -> None:
    """Write synthetic patients' records as NDJSON, one record per line.

    A record is an event (the body of POST /patient-events with its idempotency_key), a
    correction ({"idempotency_key", "corrects": <an earlier record's key>, "payload",
    "reason"}) or a retraction ({"idempotency_key", "retracts": <key>, "reason"}), in the
    order they were made. Patients are S<seed>-P<number>; nothing in them is real.
    """
    stop = _end(end)
    counts: Counter[str] = Counter()
    handle: TextIO = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        lines = []
        for record in population(patients, seed, end=stop, years=years):
            kind = (
                "correction"
                if "corrects" in record
                else "retraction"
                if "retracts" in record
                else "event"
            )
            counts[kind] += 1
            lines.append(dumps(record))
            if len(lines) >= 10_000:
                handle.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            handle.write("\n".join(lines) + "\n")
    finally:
        if output:
            handle.close()
    typer.echo(
        f"{patients} patients: {counts['event']} events, {counts['correction']} corrections, "
        f"{counts['retraction']} retractions",
        err=True,
    )
