"""CPU per request inside the app: the service's own cost, without HTTP parsing or a network.

Hypothesis
----------
On this 2-core machine the API, not PostgreSQL, limits throughput (``bench/load.py`` shows
pgbench running the same statements several times faster). The cost that matters is then
the CPU one request takes in the service's code: framework, validation, auth, the psycopg
round trip and rendering. Calling the ASGI app directly, one request at a time, and reading
the process's CPU clock measures exactly that, far less noisily than a load test on a shared
machine, so two versions of the code can be compared by ratio in one sitting.

Run
---
From the repository root::

    python bench/request_cpu.py                 # embedded PostgreSQL in a temp folder
    DATABASE_URL=postgresql://... python bench/request_cpu.py --requests 5000

It loads ``--events`` events over ``--patients`` patients with one INSERT ... SELECT, warms
up, then times ``--requests`` sequential GETs of a random patient's newest page and as many
POSTs of a lab result, and prints CPU microseconds per request (and wall time, which also
includes waiting for PostgreSQL). With ``--context``, also as many GETs of a random
patient's context: ``CTX-M`` with the context cache off (every one a miss: the candidate
query), ``CTX-H`` of one patient again and again (hits: the audit row that confirms the
version).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from carelog.api.app import create_app
from carelog.domain.principals import ApiKeyCreate
from carelog.settings import Settings
from carelog.storage.db import connection
from carelog.storage.embedded import EmbeddedPostgres

# The key service's module, also in a tree from before issue 10's layout (run to compare).
_KEYS = importlib.import_module(
    "carelog.services.auth.keys"
    if importlib.util.find_spec("carelog.services.auth")
    else "carelog.services.keys"
)
issue_key = _KEYS.issue_key

Message = dict[str, Any]

PRELOAD = b"""
INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,
                            recorded_by)
SELECT %(tenant)s, 'P-' || lpad((g %% %(patients)s)::text, 5, '0'), 'lab_result',
       jsonb_build_object('test', 'HbA1c', 'value', 5 + (g %% 50) / 10.0, 'unit', '%%'),
       now() - make_interval(mins => g), 'bench'
FROM generate_series(1, %(events)s) AS g
"""


def _scope(method: str, path: str, token: str, body: bytes) -> dict[str, Any]:
    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def _call(app: Any, scope: dict[str, Any], body: bytes) -> int:
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        # What a server does: the body once, then nothing until the client goes away (it
        # stays connected here, and the app's disconnect watcher is cancelled at the end).
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status: int = sent[0]["status"]
    return status


async def _time(label: str, count: int, one: Callable[[int], Awaitable[int]]) -> None:
    for i in range(min(200, count)):
        assert await one(i) == 200
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(count):
        assert await one(i) == 200
    cpu_us = (time.process_time() - cpu) / count * 1e6
    wall_us = (time.perf_counter() - wall) / count * 1e6
    print(f"{label:<5} {cpu_us:8.0f} us CPU/request {wall_us:8.0f} us wall/request")


async def run(url: str, args: argparse.Namespace) -> None:
    """Preload, then time GETs and POSTs through the ASGI app."""
    app = create_app(Settings(database_url=url, access_log=False, rate_limit_per_second=0))
    uncached = create_app(
        Settings(database_url=url, access_log=False, rate_limit_per_second=0, context_cache_size=0)
    )
    rng = random.Random(args.seed)
    async with app.router.lifespan_context(app):
        pool = app.state.runtime.pool
        tenant = f"bench-{rng.randrange(10**9)}"
        issued = await issue_key(pool, ApiKeyCreate(tenant_id=tenant, scopes=frozenset({"admin"})))
        async with connection(pool, tenant) as conn:
            await conn.execute(
                PRELOAD, {"tenant": tenant, "patients": args.patients, "events": args.events}
            )
            await conn.execute("ANALYZE patient_events")
        token = issued.token

        async def get(i: int) -> int:
            path = f"/patient-events/P-{rng.randrange(args.patients):05d}"
            return await _call(app, _scope("GET", path, token, b""), b"")

        async def post(i: int) -> int:
            body = (
                b'{"patient_id":"P-%05d","event_type":"lab_result","payload":'
                % rng.randrange(args.patients)
                + b'{"test":"HbA1c","value":8.4,"unit":"%","flag":"high"}}'
            )
            return await _call(app, _scope("POST", "/patient-events", token, body), body)

        await _time("GET", args.requests, get)
        await _time("POST", args.requests, post)
        if not args.context:
            return

        async def context_hit(i: int) -> int:
            path = "/patients/P-00001/context"
            return await _call(app, _scope("GET", path, token, b""), b"")

        await _time("CTX-H", args.requests, context_hit)
        async with uncached.router.lifespan_context(uncached):

            async def context_miss(i: int) -> int:
                path = f"/patients/P-{rng.randrange(args.patients):05d}/context"
                return await _call(uncached, _scope("GET", path, token, b""), b"")

            await _time("CTX-M", args.requests, context_miss)


def main() -> None:
    """Parse options, find or start a database, run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--context", action="store_true", help="also time context GETs")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if url:
        asyncio.run(run(url, args))
        return
    with tempfile.TemporaryDirectory(prefix="carelog-cpu-") as folder:
        embedded = EmbeddedPostgres(Path(folder))
        try:
            asyncio.run(run(embedded.start(), args))
        finally:
            embedded.stop(force=True)


if __name__ == "__main__":
    main()
