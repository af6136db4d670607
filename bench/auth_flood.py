"""A flood of made-up tokens against ``carelog serve``: what it answers and what it leaves.

Hypothesis (issue 9, item 8): with the per-address limit on failed authentication, most of
the requests get 429 without a key lookup, and the audit trail keeps a handful of rows for
them whose ``attempts`` add up to every request sent; the chains still verify.

Run (from the repository root, with the server extra installed):

    python bench/auth_flood.py --requests 2000 --concurrency 20

It starts ``carelog serve`` on a fresh embedded PostgreSQL, sends the requests from one
address (127.0.0.1), stops the service (which flushes the pending counts), then counts the
audit rows of the unknown tenant ``-`` and runs ``carelog audit verify``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from bench_common import say
from bench_service import Service, carelog_executable, free_port, service_env
from carelog.storage.embedded import EmbeddedPostgres

# Schema-agnostic (the attempts column is new): a row without it stands for one attempt.
COUNT_SQL = """
SELECT count(*), COALESCE(sum(COALESCE((to_jsonb(a) ->> 'attempts')::bigint, 1)), 0)
FROM audit_events AS a WHERE tenant_id = '-'
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    return parser.parse_args()


async def flood(base_url: str, requests: int, concurrency: int) -> collections.Counter[str]:
    """Send ``requests`` GETs with a made-up key, ``concurrency`` at a time."""
    statuses: collections.Counter[str] = collections.Counter()
    queue = iter(range(requests))
    headers = {"Authorization": "Bearer clk_madeup_0123456789abcdefghij"}

    async def worker(client: httpx.AsyncClient) -> None:
        for n in queue:
            try:
                response = await client.get(f"/patient-events/P-{n:05d}", headers=headers)
            except httpx.TransportError:
                statuses["transport error"] += 1
                continue
            statuses[str(response.status_code)] += 1

    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return statuses


def main() -> int:
    """Run the flood; exit 1 if the chains do not verify or the counts do not add up."""
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="carelog-flood-"))
    service = Service(
        data_dir, free_port(), args.workers, data_dir / "service.log", access_log=False
    )
    try:
        service.start()
        started = time.perf_counter()
        statuses = asyncio.run(flood(service.base_url, args.requests, args.concurrency))
        seconds = time.perf_counter() - started
    finally:
        service.stop()  # the lifespan flushes the pending repeat counts
    with EmbeddedPostgres(data_dir) as embedded, psycopg.connect(embedded.url()) as conn:
        found = conn.execute(COUNT_SQL).fetchone()
    rows, attempts = found if found else (0, 0)
    verify = subprocess.run(
        [carelog_executable(), "audit", "verify", "--tenant", "-"],
        env=service_env(data_dir, access_log=False),
        capture_output=True,
        text=True,
        check=False,
    )
    print(
        f"requests: {args.requests} ({args.concurrency} at a time, {args.workers} worker(s)) "
        f"in {seconds:.1f} s"
    )
    print("answers: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    print(f"audit rows of tenant '-': {rows}, attempts they record: {attempts}")
    print(f"carelog audit verify: {verify.stdout.strip() or verify.stderr.strip()}")
    shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if verify.returncode == 0 else 1


if __name__ == "__main__":
    say("bench/auth_flood.py")
    sys.exit(main())
