"""What compact event JSON costs: re-serialized by orjson in the API, or compacted in SQL.

Hypothesis
----------
PostgreSQL renders events (``carelog_event_json``) with spaced separators,
``{"id" : 1, "payload" : {"a": 1}}``, and has no function that writes compact text. Two ways
give every route the compact form: parse and re-write each page with orjson in the API
process, or strip the padding in SQL with a string-aware ``regexp_replace`` (blanks outside
string literals are all padding in PostgreSQL's output). orjson's parser runs at hundreds of
MB/s, PostgreSQL's regex engine far slower: the API-side way should cost a few microseconds
per event, the SQL one tens.

Run
---
From the repository root::

    python bench/json_format.py                 # embedded PostgreSQL in a temp folder
    DATABASE_URL=postgresql://... python bench/json_format.py --events 100000

It times ``orjson.dumps(orjson.loads(page))`` on pages of 1, 20 and 500 events as
PostgreSQL renders them (a small lab result and a longer triage note), then, on a migrated
database with ``--events`` lab results, a full scan computing ``carelog_event_json`` for
every row against the same wrapped in the ``regexp_replace``, and prints microseconds per
event. Both ways give the same bytes (checked).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import timeit
from pathlib import Path

import orjson

from carelog.storage.db import connect
from carelog.storage.embedded import EmbeddedPostgres
from carelog.storage.migrate import migrate

ENVELOPE = (
    '{{"id" : {id}, "patient_id" : "P-2048", "event_type" : "{type}", "payload" : {payload}, '
    '"occurred_at" : "2026-12-01T23:58:00.123456Z", "created_at" : '
    '"2026-12-01T23:58:00.123456Z", "recorded_by" : "key:0123456789abcdef", '
    '"recorded_by_kind" : "agent", "agent_name" : "intake-bot", "source" : null, '
    '"status" : "final", "supersedes" : null, "reason" : null, "labels" : [], '
    '"schema_version" : 1}}'
)
PAYLOADS = {
    "lab_result": '{"test": "HbA1c", "unit": "%", "loinc": "4548-4", "value": 8.4}',
    "triage_note": '{"text": "'
    + "Crushing chest pain radiating to the left arm, since this morning. " * 6
    + '", "severity": "high", "symptoms": ["chest pain", "nausea", "sweating"]}',
}
# Keeps string literals (group 1), drops every other blank: PostgreSQL's padding.
COMPACT_SQL = r"""regexp_replace(carelog_event_json(e), '("(?:[^"\\]|\\.)*")| ', '\1', 'g')"""
PRELOAD = """
INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,
                            recorded_by)
SELECT 'bench-json', 'P-' || lpad((g %% 2000)::text, 5, '0'), 'lab_result',
       jsonb_build_object('test', 'HbA1c', 'value', round(5 + (g %% 50) / 10.0, 1), 'unit',
                          'note ' || g || ': "high", see: [1, 2]'),
       now() - make_interval(mins => g), 'bench'
FROM generate_series(1, %(events)s) AS g
"""


def api_side() -> None:
    """orjson loads + dumps of whole pages, as ``event_json`` does."""
    for kind, payload in PAYLOADS.items():
        for size in (1, 20, 500):
            page = "[" + ",".join(
                ENVELOPE.format(id=i, type=kind, payload=payload) for i in range(size)
            )
            page += "]"
            number = max(1, 20_000 // size)

            def render(page: str = page) -> bytes:
                return orjson.dumps(orjson.loads(page))

            best = min(timeit.repeat(render, number=number, repeat=5))
            per_page = best / number * 1e6
            print(
                f"API  {kind:<12} {size:>3} events ({len(page):>7} B): {per_page:8.1f} us/page"
                f" {per_page / size:6.2f} us/event"
            )


async def sql_side(url: str, events: int) -> None:
    """A full scan rendering every row, plain and compacted; best of three each."""
    async with await connect(url) as conn:
        await migrate(conn)
        await conn.execute(
            "INSERT INTO tenants (tenant_id) VALUES ('bench-json') ON CONFLICT DO NOTHING"
        )
        await conn.execute("DELETE FROM patient_events WHERE tenant_id = 'bench-json'")
        await conn.execute(PRELOAD, {"events": events})
        await conn.execute("VACUUM ANALYZE patient_events")
        plain = "carelog_event_json(e)"
        cur = await conn.execute(
            f"SELECT {plain}, {COMPACT_SQL} FROM patient_events e "
            "WHERE tenant_id = 'bench-json' LIMIT 1000"
        )
        for text, compacted in await cur.fetchall():
            assert orjson.dumps(orjson.loads(text)) == compacted.encode(), compacted
        for label, expression in (("as is", plain), ("compacted", COMPACT_SQL)):
            times = []
            for _ in range(3):
                started = time.perf_counter()
                await conn.execute(
                    f"SELECT sum(length({expression})) FROM patient_events e "
                    "WHERE tenant_id = 'bench-json'"
                )
                times.append(time.perf_counter() - started)
            print(f"SQL  carelog_event_json {label:<10} {min(times) / events * 1e6:6.2f} us/event")


def main() -> None:
    """Parse options, time the API side, then find or start a database for the SQL side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    api_side()
    url = os.environ.get("DATABASE_URL")
    if url:
        asyncio.run(sql_side(url, args.events))
        return
    with tempfile.TemporaryDirectory(prefix="carelog-json-") as folder:
        embedded = EmbeddedPostgres(Path(folder))
        try:
            asyncio.run(sql_side(embedded.start(), args.events))
        finally:
            embedded.stop(force=True)


if __name__ == "__main__":
    main()
