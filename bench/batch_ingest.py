"""Bulk ingest benchmark: POST /patient-events/batch with a million typed synthetic events.

Hypothesis
----------
With COPY into a staging table and one INSERT ... SELECT per batch (the per-patient version,
the measurements and the search structures maintained once per batch by the statement-level
trigger, one audit row a patient of each batch), the database's share is the log's indexes,
about 18 us an event; Python's share is parsing and validating (pydantic), about 15 us an
event with the cyclic collector paused. On this 2-core machine (service and database
together) two workers with two batches in flight keep both cores busy, which puts the
ceiling near 2 / (18 + 15) us = 60,000 events/s; the issue's target is 50,000/s sustained
over 1,000,000 events.

Run
---
From the repository root::

    python bench/batch_ingest.py                       # 1,000,000 events, 10,000 a batch
    python bench/batch_ingest.py --events 100000 --workers 1 --concurrency 1
    python bench/batch_ingest.py --no-keys             # items without idempotency keys

It starts ``carelog serve`` (``--workers``) on a fresh embedded PostgreSQL in a temporary
folder (or ``--data-dir``), generates the events first (``carelog.synthetic``: labs, vitals,
medications, conditions, notes, encounters of realistic patients, each with its
idempotency key; corrections and retractions left out), serialises them as NDJSON batches,
then times sending them all, ``--concurrency`` batches in flight. It prints events/s, each
batch's median and worst latency, and checks the database afterwards: the rows, the sum of
the patients' versions and the batches' audit rows.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import psycopg

from bench_common import say
from bench_service import Service, cpu_seconds, database_url, free_port, postmaster_pid
from carelog.synthetic.population import population

EVENTS_PER_PATIENT = 60  # about what the synthetic population records over 3 years


def synthetic_batches(events: int, batch_size: int, *, keys: bool, seed: int) -> list[bytes]:
    """``events`` typed events as NDJSON bodies of ``batch_size`` lines."""
    wanted = (
        {k: v for k, v in record.items() if keys or k != "idempotency_key"}
        for record in population(events // EVENTS_PER_PATIENT * 2 + 10, seed)
        if "corrects" not in record and "retracts" not in record
    )
    lines = [orjson.dumps(record) for record in itertools.islice(wanted, events)]
    if len(lines) < events:
        sys.exit(f"error: the population gave only {len(lines)} events")
    return [b"\n".join(lines[start : start + batch_size]) for start in range(0, events, batch_size)]


async def send_all(
    base_url: str, token: str, bodies: list[bytes], concurrency: int
) -> tuple[float, list[float]]:
    """Seconds to send every body, ``concurrency`` at a time, and each one's latency."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    queue = list(reversed(bodies))
    latencies: list[float] = []

    async def sender(client: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            response = await client.post("/patient-events/batch", content=body)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"batch refused: {response.status_code} {response.text[:300]}")

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=300, limits=limits
    ) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def check_database(url: str) -> dict[str, Any]:
    """What the database holds after the run (the tables' owner's view)."""
    with psycopg.connect(url) as conn:

        def one(sql: str) -> Any:
            row = conn.execute(sql).fetchone()
            return row[0] if row else None

        return {
            "events": one("SELECT count(*) FROM patient_events"),
            "sum_of_versions": one("SELECT sum(version) FROM patient_heads"),
            "measurements": one("SELECT count(*) FROM patient_measurements"),
            "batch_audit_rows": one(
                "SELECT count(*) FROM audit_events WHERE route = '/patient-events/batch'"
            ),
            "audited_events": one(
                "SELECT sum(cardinality(event_ids)) FROM audit_events"
                " WHERE route = '/patient-events/batch'"
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-keys", action="store_true", help="items without idempotency keys")
    parser.add_argument("--data-dir", type=Path, help="keep the database here (default: temp)")
    args = parser.parse_args()

    say(f"generating {args.events:,} synthetic events ...")
    started = time.perf_counter()
    bodies = synthetic_batches(args.events, args.batch_size, keys=not args.no_keys, seed=args.seed)
    size = sum(len(b) for b in bodies)
    took = time.perf_counter() - started
    say(f"  {len(bodies)} batches, {size / 2**20:.0f} MiB, in {took:.0f} s")
    with tempfile.TemporaryDirectory(prefix="carelog-batch-bench-") as folder:
        data_dir = args.data_dir or Path(folder)
        service = Service(
            data_dir,
            free_port(),
            args.workers,
            data_dir / "service.log",
            access_log=False,
            env={"CARELOG_BATCH_MAX_EVENTS": str(max(args.batch_size, 10_000))},
        )
        service.start()
        try:
            token = service.token()
            # Warm-up: one small batch (first connections, caches, the staging table's plan).
            warm = synthetic_batches(200, 200, keys=False, seed=args.seed + 1)
            asyncio.run(send_all(service.base_url, token, warm, 1))
            assert service.proc is not None
            roots = {"service": service.proc.pid, "postgres": postmaster_pid(service.pgdata) or 0}
            before = {name: cpu_seconds(pid) for name, pid in roots.items()}
            load_before = psutil.getloadavg()[0]
            seconds, latencies = asyncio.run(
                send_all(service.base_url, token, bodies, args.concurrency)
            )
            cpu = {name: cpu_seconds(pid) - before[name] for name, pid in roots.items()}
            found = check_database(database_url(data_dir))
        finally:
            service.stop()
    rate = args.events / seconds
    print(
        f"{args.events:,} events in {len(bodies)} batches of {args.batch_size:,} "
        f"({'no keys' if args.no_keys else 'each with its idempotency key'}), "
        f"{args.workers} worker(s), {args.concurrency} in flight: {seconds:.1f} s = "
        f"{rate:,.0f} events/s; batch latency median {statistics.median(latencies):.2f} s, "
        f"max {max(latencies):.2f} s"
    )
    per_event = {name: used / args.events * 1e6 for name, used in cpu.items()}
    both = sum(per_event.values())
    print(
        "CPU an event: "
        + ", ".join(f"{name} {us:.1f} us" for name, us in per_event.items())
        + f"; together {both:.1f} us, so 2 free cores could do {2e6 / both:,.0f} events/s "
        f"(load average before the run: {load_before:.2f})"
    )
    print(f"database afterwards: {found}")
    expected = args.events + 200
    if found["events"] != expected or found["sum_of_versions"] != expected:
        sys.exit(f"error: expected {expected} events and versions, found {found}")


if __name__ == "__main__":
    main()
