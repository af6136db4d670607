"""The context's candidate query alone: wall time per run on one connection, as the service
runs it (as carelog_app, under row-level security, prepared after the first runs).

Run against a database ``bench/context.py`` filled (its ``--data-dir`` kept), e.g.::

    python bench/context_query.py \\
        "postgresql://postgres:@/carelog?host=/tmp/ctx1m/pgdata" --runs 300

It prints milliseconds per run and the number of candidates. PostgreSQL's time dominates;
the client's share (sending, receiving and parsing ~70 events) is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

import psycopg

from bench_common import TENANT
from carelog.storage.db import set_local
from carelog.storage.patient_events import CONTEXT_PLAN, context_candidates

PATIENT = "P-CONTEXT"


async def run(url: str, runs: int) -> None:
    """Warm up, then time ``runs`` calls."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SET ROLE carelog_app")
        await conn.execute("SELECT set_config('carelog.tenant_id', %s, false)", (TENANT,))

        async def once() -> int:
            # As the context's use case runs it (services/unit.py): one round trip.
            async with conn.pipeline(), conn.transaction():
                await set_local(conn, CONTEXT_PLAN)
                sent = await context_candidates(
                    conn, tenant_id=TENANT, patient_id=PATIENT, as_of=datetime.now(UTC)
                )
            found = await sent.read()
            return len(found.events)

        for _ in range(20):
            count = await once()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(runs):
            await once()
        wall_ms = (time.perf_counter() - wall) / runs * 1e3
        cpu_ms = (time.process_time() - cpu) / runs * 1e3
        print(f"{count} candidates: {wall_ms:.3f} ms wall per run ({cpu_ms:.3f} ms client CPU)")


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.runs))


if __name__ == "__main__":
    main()
