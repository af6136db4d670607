"""The preload: synthetic events COPYed into ``patient_events`` up to a size, and row counts."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench_common import PAGE_SIZE, RECORDED_BY, ROUND_ROBIN_PASSES, TENANT, say
from bench_results import Preload

COPY_BATCH_ROWS = 100_000  # one transaction per batch: an interrupted preload keeps its rows
HISTORY = timedelta(days=730)

LAB_TESTS = (
    ("hba1c", "%", 4.0, 11.0, "4.0-5.6"),
    ("potassium", "mmol/L", 3.0, 6.0, "3.5-5.1"),
    ("creatinine", "mg/dL", 0.5, 3.0, "0.6-1.2"),
    ("hemoglobin", "g/dL", 8.0, 17.0, "12.0-16.0"),
    ("ldl", "mg/dL", 60.0, 220.0, "0-130"),
)
COMPLAINTS = (
    "chest pain",
    "shortness of breath",
    "fever",
    "abdominal pain",
    "dizziness",
    "headache",
    "fall at home",
    "cough",
    "back pain",
    "palpitations",
)
NOTES = (
    "Alert and oriented.",
    "Pain 6/10, onset 2 h ago.",
    "No known allergies.",
    "Seen by triage nurse, vitals taken.",
    "Family at bedside.",
    "Referred to GP.",
)
DRUGS = (
    ("metformin", 500, "oral"),
    ("lisinopril", 10, "oral"),
    ("atorvastatin", 20, "oral"),
    ("ceftriaxone", 1000, "iv"),
    ("paracetamol", 1000, "oral"),
    ("heparin", 5000, "sc"),
)
EVENT_TYPES = ("vital_signs", "lab_result", "medication", "triage_note")
EVENT_WEIGHTS = (40, 30, 20, 10)


def synthetic_payload(rng: random.Random, event_type: str) -> dict[str, Any]:
    """A small, plausible payload for ``event_type`` (no real data)."""
    if event_type == "vital_signs":
        return {
            "heart_rate": rng.randint(48, 130),
            "bp_systolic": rng.randint(95, 180),
            "bp_diastolic": rng.randint(55, 110),
            "spo2": rng.randint(88, 100),
            "temp_c": round(rng.uniform(35.8, 39.5), 1),
            "resp_rate": rng.randint(10, 28),
        }
    if event_type == "lab_result":
        test, unit, low, high, reference = rng.choice(LAB_TESTS)
        return {
            "test": test,
            "value": round(rng.uniform(low, high), 1),
            "unit": unit,
            "reference_range": reference,
            "specimen": "blood",
        }
    if event_type == "medication":
        drug, dose, route = rng.choice(DRUGS)
        return {
            "drug": drug,
            "dose_mg": dose,
            "route": route,
            "frequency": rng.choice(("once", "BID", "TID", "QID", "PRN")),
            "action": rng.choice(("ordered", "administered", "held")),
        }
    return {
        "acuity": rng.randint(1, 5),
        "chief_complaint": rng.choice(COMPLAINTS),
        "note": rng.choice(NOTES),
    }


def copy_chunks(
    rng: random.Random, first_index: int, rows: int, patients: int, now: datetime
) -> Iterator[str]:
    """COPY text-format lines for ``rows`` events, in chunks of about a megabyte.

    Row number ``n`` of the table goes to patient ``n % patients`` while ``n`` is below
    ``ROUND_ROBIN_PASSES * patients`` (every patient gets a full page), else to a random one.
    """
    newest = now.timestamp()
    dealt = ROUND_ROBIN_PASSES * patients
    span = HISTORY.total_seconds()
    lines: list[str] = []
    for index in range(first_index, first_index + rows):
        patient = index % patients if index < dealt else rng.randrange(patients)
        event_type = rng.choices(EVENT_TYPES, EVENT_WEIGHTS)[0]
        payload = json.dumps(synthetic_payload(rng, event_type), separators=(",", ":"))
        occurred = datetime.fromtimestamp(newest - rng.random() * span, UTC).isoformat()
        # COPY's text format reads backslashes as escapes; JSON may contain some.
        payload = payload.replace("\\", "\\\\")
        lines.append(
            f"{TENANT}\tP-{patient:05d}\t{event_type}\t{payload}\t{occurred}\t"
            f"{RECORDED_BY}\tbench-preload\n"
        )
        if len(lines) == 5000:
            yield "".join(lines)
            lines.clear()
    if lines:
        yield "".join(lines)


def count_rows(conn: psycopg.Connection[Any]) -> int:
    """Rows in patient_events (all tenants: the size the indexes have)."""
    row = conn.execute("SELECT count(*) FROM patient_events").fetchone()
    return int(row[0]) if row else 0


def mean_page_rows(conn: psycopg.Connection[Any], patients: int) -> float:
    """Mean rows a GET of a random patient returns (its events, at most one page)."""
    row = conn.execute(
        "SELECT coalesce(sum(least(n, %s)), 0) FROM ("
        " SELECT count(*) AS n FROM patient_events"
        " WHERE tenant_id = %s AND patient_id = ANY(%s) GROUP BY patient_id) AS per_patient",
        (PAGE_SIZE, TENANT, [f"P-{i:05d}" for i in range(patients)]),
    ).fetchone()
    total = int(row[0]) if row else 0
    return total / patients


def top_up(url: str, target: int, patients: int, seed: int) -> Preload | None:
    """COPY events in until the table has ``target`` rows; then VACUUM (ANALYZE), CHECKPOINT."""
    with psycopg.connect(url, autocommit=True) as conn:
        before = count_rows(conn)
        missing = target - before
        if missing <= 0:
            say(f"patient_events has {before:,} rows (>= {target:,}): nothing to preload")
            conn.execute("ANALYZE patient_events")
            return None
        say(
            f"preloading {missing:,} events over {patients:,} patients "
            f"({before:,} rows already there)"
        )
        # Seeded by the starting count too, so a top-up does not repeat the first rows.
        rng = random.Random(f"{seed}:{before}")
        now = datetime.now(UTC)
        copy_sql = (
            "COPY patient_events (tenant_id, patient_id, event_type, payload, occurred_at, "
            "recorded_by, source) FROM STDIN"
        )
        started = time.perf_counter()
        loaded = 0
        while loaded < missing:
            batch = min(COPY_BATCH_ROWS, missing - loaded)
            with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for chunk in copy_chunks(rng, before + loaded, batch, patients, now):
                    copy.write(chunk)
            loaded += batch
            elapsed = time.perf_counter() - started
            say(f"  {loaded:,}/{missing:,} rows, {loaded / elapsed:,.0f} rows/s")
        copy_seconds = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE) patient_events")
        conn.execute("CHECKPOINT")
        vacuum_seconds = time.perf_counter() - started
    rate = loaded / copy_seconds
    print(
        f"preload: {loaded:,} rows in {copy_seconds:.1f} s = {rate:,.0f} rows/s "
        f"(then VACUUM ANALYZE + CHECKPOINT {vacuum_seconds:.1f} s)",
        flush=True,
    )
    return Preload(before, loaded, round(copy_seconds, 3), round(rate, 1), round(vacuum_seconds, 3))
