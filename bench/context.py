"""Context benchmark: GET /patients/{id}/context for a patient with thousands of events.

Hypothesis
----------
Building a patient's context costs the same whatever the table holds and grows only slowly
with the patient's own history: the candidates (current allergies, conditions, medications,
the two latest results per lab test, the latest vitals, ten latest notes) are chosen in one
pass over the patient's rows in SQL, and only those are rendered as JSON, parsed and
summarised in Python. Target (issue 4): p99 <= 25 ms at 16 concurrent requests for a patient
with 5,000 events in a table of 1,000,000, and no slower at ten times the table.

Run
---
From the repository root (wrk from Debian: ``apt-get install wrk``)::

    python bench/context.py                                  # 1,000,000 rows
    python bench/context.py --events 10000000                # ten times the table

It starts ``carelog serve`` on a fresh embedded PostgreSQL (rate limit and access log off,
as in ``bench/load.py``), preloads the background events with COPY, adds one patient with
``--patient-events`` events (60% lab results over 24 tests, 6 conditions, 3 medications,
vitals, notes; its 50 newest lab results corrected or retracted, and 1% of the other events
corrected), VACUUMs (as autovacuum would), then runs wrk at ``--connections`` for
``--duration`` seconds after a warm-up and prints requests/s, p50 and p99.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import psycopg

from bench_common import BENCH_DIR, TENANT, say
from bench_preload import top_up
from bench_service import Service, database_url, free_port
from bench_tools import require_wrk, run_wrk

PATIENT = "P-CONTEXT"

# One patient's history, mixed like a chronic patient's record.
PATIENT_SQL = """
INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at, recorded_by)
SELECT %(tenant)s, %(patient)s, kind,
       CASE kind
         WHEN 'lab_result' THEN jsonb_build_object('loinc', (1000 + g %% 40)::text || '-1',
              'test', 'test ' || (g %% 40), 'value', g %% 97, 'unit', 'mg/dL')
         WHEN 'condition' THEN jsonb_build_object('icd10', 'E' || (10 + g %% 60)::text,
              'name', 'condition ' || (g %% 60), 'clinical_status', 'active')
         WHEN 'medication' THEN jsonb_build_object('rxnorm', (800000 + g %% 30)::text,
              'name', 'medication ' || (g %% 30), 'status', 'active')
         WHEN 'vital_signs' THEN jsonb_build_object('heart_rate',
              jsonb_build_object('value', 60 + g %% 40, 'unit', '/min'))
         ELSE jsonb_build_object('text', 'synthetic note number ' || g)
       END,
       now() - make_interval(hours => g), 'bench'
FROM generate_series(1, %(count)s) AS g,
     LATERAL (SELECT (ARRAY['lab_result', 'lab_result', 'lab_result', 'lab_result',
                            'lab_result', 'lab_result', 'vital_signs', 'triage_note',
                            'condition', 'medication'])[1 + g %% 10] AS kind) AS k
"""


# Corrections, so that the current-version checks have work to do: the patient's 50 newest
# lab results are corrected (every fifth retracted instead), and 1% of the other patients'
# events are corrected, which fills the successor index the checks probe.
CORRECTIONS_SQL = """
INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,
                            recorded_by, status, supersedes)
SELECT tenant_id, patient_id, event_type, payload, occurred_at, 'bench',
       CASE WHEN rank %% 5 = 0 THEN 'entered-in-error' ELSE 'amended' END, id
FROM (SELECT e.*, row_number() OVER (ORDER BY occurred_at DESC, id DESC) AS rank
      FROM patient_events AS e
      WHERE tenant_id = %(tenant)s AND patient_id = %(patient)s AND event_type = 'lab_result'
      ORDER BY occurred_at DESC, id DESC LIMIT 50) AS newest
UNION ALL
SELECT tenant_id, patient_id, event_type, payload, occurred_at, 'bench', 'amended', id
FROM patient_events
WHERE tenant_id = %(tenant)s AND patient_id <> %(patient)s AND id %% 100 = 0
  AND supersedes IS NULL
"""


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--patient-events", type=int, default=5_000)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=None)
    return parser.parse_args()


def main() -> int:
    """Run the benchmark; exit 1 if any request failed."""
    args = parse_args()
    wrk = require_wrk()
    own_dir = args.data_dir is None
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="carelog-context-"))
    service = Service(
        data_dir,
        free_port(),
        args.workers,
        data_dir.parent / f"{data_dir.name}.log",
        access_log=False,
    )
    try:
        service.start()
        token = service.token()
        url = database_url(data_dir)
        top_up(url, args.events, args.patients, args.seed)
        with psycopg.connect(url, autocommit=True) as conn:
            # A kept --data-dir already has the patient: add it once.
            if not conn.execute(
                "SELECT 1 FROM patient_events WHERE tenant_id = %s AND patient_id = %s LIMIT 1",
                (TENANT, PATIENT),
            ).fetchone():
                conn.execute(
                    PATIENT_SQL.encode(),
                    {"tenant": TENANT, "patient": PATIENT, "count": args.patient_events},
                )
                conn.execute(CORRECTIONS_SQL.encode(), {"tenant": TENANT, "patient": PATIENT})
            # The steady state autovacuum keeps: visibility map set, statistics current.
            conn.execute("VACUUM (ANALYZE) patient_events")
            rows = conn.execute("SELECT count(*) FROM patient_events").fetchone()
        total = int(rows[0]) if rows else 0
        say(f"{total:,} rows; {PATIENT} has {args.patient_events:,} events")
        run = run_wrk(
            "GET context",
            BENCH_DIR / "context.lua",
            f"/patients/{PATIENT}/context",
            wrk=wrk,
            base_url=service.base_url,
            token=token,
            args=args,
            size=total,
            rows=total,
        )
        errors = run.errors
        print(f"\ncommand: {' '.join(sys.argv)}")
        print("| scenario | rows in table | patient events | req/s | p50 ms | p99 ms | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        print(
            f"| GET context | {total:,} | {args.patient_events:,} | {run.requests_per_s:,.0f} "
            f"| {run.p50_ms} | {run.p99_ms} | {errors} |"
        )
        return 1 if errors else 0
    finally:
        service.stop()
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
