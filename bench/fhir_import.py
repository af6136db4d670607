"""FHIR import benchmark: POST /fhir with a batch Bundle of 1,000 lab Observations, and
POST /fhir/$import with NDJSON of lab Observations (``--ndjson``).

Hypothesis
----------
An import costs about a millisecond an entry: each resource is validated against R4 with
``fhir.resources`` (about 0.45 ms, the unit tests measured), read, then stored as one event
with its audit row and one row of ``fhir_imports`` in a transaction of its own (a batch) or in
one transaction (a transaction Bundle), the lookups of what was imported before done in one
query for the whole Bundle. A re-import of the same Bundle writes nothing (unchanged), so it
costs the validation and the one lookup.

NDJSON (``--ndjson``): the same Observations a line each, streamed in 64 KiB chunks (no
declared length), stored in batches of 1,000 lines a transaction, each batch read (parsed,
validated, mapped) in a thread (or split among ``--processes`` processes) while the one
before is stored, its created lines written with COPY and one INSERT ... SELECT. The
hypothesis: with the store a few statements a batch, reading (R4 validation above all) is
the bound, and reading in processes on the other core lifts it. It also times reading
alone (``read_lines`` on one core, with and without validation), to say where the time
goes: these Observations are of the shape ``domain.fhir.fast_observation`` checks against
R4 without the full ``fhir.resources`` model (run the bench on a checkout before it for
the full model's figures).

Run
---
From the repository root::

    python bench/fhir_import.py                     # 1,000 entries, batch and transaction
    python bench/fhir_import.py --entries 500 --rounds 5
    python bench/fhir_import.py --ndjson --entries 20000 --rounds 3
    python bench/fhir_import.py --ndjson --entries 20000 --rounds 3 --processes 2

The app runs in this process (httpx over ASGI: no HTTP server, no network) on a fresh
embedded PostgreSQL in a temporary folder, with the service's default settings (the body
limit of 1 MiB included: 1,000 such entries are about 550 KB) but the rate limit and the
access log off. Each round posts a new batch Bundle (new ids: all created), the same Bundle
again (all unchanged), and a new transaction Bundle; it prints the seconds and entries per
second of each, and the median over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from bench_service import cpu_seconds, postmaster_pid
from carelog.api.app import create_app
from carelog.domain.principals import ApiKeyCreate
from carelog.services.auth.keys import issue_key
from carelog.services.fhir.ndjson import read_lines
from carelog.settings import Settings
from carelog.storage.embedded import EmbeddedPostgres


def observation(resource_id: str, patient: str, value: float, version: int = 1) -> dict[str, Any]:
    """A synthetic glucose result, as an EHR would send it."""
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "meta": {"versionId": str(version)},
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}], "text": "Glucose"},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-01-05T08:00:00Z",
        "valueQuantity": {
            "value": value,
            "unit": "mg/dL",
            "system": "http://unitsofmeasure.org",
            "code": "mg/dL",
        },
    }


def bundle(kind: str, entries: int, patients: int) -> bytes:
    """A Bundle of ``entries`` new Observations over ``patients`` patients."""
    run = uuid.uuid4().hex[:8]
    items = []
    for n in range(entries):
        resource = observation(f"{run}-{n}", f"P-bench-{n % patients}", 70 + n % 60)
        items.append(
            {"resource": resource, "request": {"method": "PUT", "url": f"Observation/{run}-{n}"}}
        )
    return orjson.dumps({"resourceType": "Bundle", "type": kind, "entry": items})


async def timed(client: httpx.AsyncClient, body: bytes, expect: str) -> float:
    started = time.perf_counter()
    response = await client.post("/fhir", content=body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    statuses = {entry["response"]["status"] for entry in answer["entry"]}
    assert statuses == {expect}, statuses
    return elapsed


def ndjson_lines(entries: int, patients: int, run: str, version: int = 1) -> bytes:
    """NDJSON of ``entries`` Observations of ``run`` over ``patients`` patients: new ones,
    or with a higher ``version`` each one's next version (another value)."""
    return b"".join(
        orjson.dumps(
            observation(f"{run}-{n}", f"P-bench-{n % patients}", 70 + n % 60 + version, version)
        )
        + b"\n"
        for n in range(entries)
    )


async def _chunks(body: bytes, size: int = 64 * 1024) -> Any:
    for at in range(0, len(body), size):
        yield body[at : at + size]


def cpu_now(postgres: int) -> dict[str, float]:
    """CPU seconds used so far by this process (the app and the client, every thread), the
    processes that read lines (this process's children) and PostgreSQL."""
    server = {postgres}
    if postgres:
        server.update(p.pid for p in psutil.Process(postgres).children(recursive=True))
    children = [p.pid for p in psutil.Process().children(recursive=True) if p.pid not in server]
    return {
        "this process": time.process_time(),
        "reading processes": sum(cpu_seconds(pid) for pid in children),
        "PostgreSQL": cpu_seconds(postgres) if postgres else 0.0,
    }


async def timed_ndjson(
    client: httpx.AsyncClient, body: bytes, expect: str, cpu: dict[str, list[float]], postgres: int
) -> float:
    """Seconds to import ``body``; the CPU seconds each side used appended to ``cpu``."""
    before = cpu_now(postgres)
    started = time.perf_counter()
    response = await client.post(
        "/fhir/$import",
        content=_chunks(body),
        headers={"Content-Type": "application/fhir+ndjson"},
    )
    elapsed = time.perf_counter() - started
    after = cpu_now(postgres)
    assert response.status_code == 200, response.text[:500]
    summary = response.json()["issue"][-1]["diagnostics"]
    assert summary.startswith(expect), summary
    for side, seconds in after.items():
        cpu.setdefault(side, []).append(seconds - before[side])
    return elapsed


async def export_all(client: httpx.AsyncClient) -> tuple[int, float]:
    """Export the tenant (GET /fhir/$export, polled): resources, and seconds to the manifest."""
    started = time.perf_counter()
    kick = await client.get("/fhir/$export", headers={"Prefer": "respond-async"})
    assert kick.status_code == 202, kick.text
    while True:
        status = await client.get(kick.headers["content-location"])
        if status.status_code == 200:
            break
        assert status.status_code == 202, status.text
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    return sum(output["count"] for output in status.json()["output"]), elapsed


def reading(body: bytes, validate: bool) -> float:
    """Seconds to read the lines alone (parse, validate or not, map), on this core."""
    started = time.perf_counter()
    read_lines(1, body.splitlines(), validate)
    return time.perf_counter() - started


async def main(
    entries: int, rounds: int, patients: int, ndjson: bool = False, processes: int = 0
) -> None:
    with tempfile.TemporaryDirectory(prefix="carelog-fhir-bench-") as folder:
        embedded = EmbeddedPostgres(Path(folder))
        embedded.start()
        try:
            settings = Settings(
                database_url=embedded.url("postgres"),
                rate_limit_per_second=0,
                auth_failure_rate_per_second=0,
                access_log=False,
                export_poll_seconds=0.05,
                fhir_import_processes=processes,
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                pool = app.state.runtime.pool
                key = await issue_key(
                    pool,
                    ApiKeyCreate(
                        tenant_id="bench",
                        scopes=frozenset({"events:read", "events:write"}),
                        name="bench",
                    ),
                )
                headers = {
                    "Authorization": f"Bearer {key.token}",
                    "Content-Type": "application/fhir+json",
                }
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bench", headers=headers, timeout=300
                ) as client:
                    await timed(client, bundle("batch", 50, patients), "201 Created")  # warm-up
                    figures: dict[str, list[float]] = {"batch": [], "again": [], "tx": []}
                    postgres = postmaster_pid(embedded.pgdata) or 0
                    size = 0
                    if ndjson:
                        figures = {
                            "ndjson": [],
                            "ndjson again": [],
                            "ndjson changed": [],
                            "read": [],
                            "read bare": [],
                        }
                    cpu: dict[str, dict[str, list[float]]] = {
                        "ndjson": {},
                        "ndjson again": {},
                        "ndjson changed": {},
                    }
                    for _ in range(rounds if ndjson else 0):
                        run = uuid.uuid4().hex[:8]
                        body = ndjson_lines(entries, patients, run)
                        size = len(body)
                        figures["ndjson"].append(
                            await timed_ndjson(
                                client, body, f"{entries} created", cpu["ndjson"], postgres
                            )
                        )
                        figures["ndjson again"].append(
                            await timed_ndjson(
                                client,
                                body,
                                f"0 created, {entries} unchanged",
                                cpu["ndjson again"],
                                postgres,
                            )
                        )
                        figures["ndjson changed"].append(
                            await timed_ndjson(
                                client,
                                ndjson_lines(entries, patients, run, version=2),
                                f"0 created, {entries} corrected",
                                cpu["ndjson changed"],
                                postgres,
                            )
                        )
                        figures["read"].append(reading(body, True))
                        figures["read bare"].append(reading(body, False))
                    if ndjson:
                        body = b""
                        gc.collect()
                        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                        exported, took = await export_all(client)
                        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
                        print(f"$export of everything: {exported} resources in {took:.2f} s, "
                              f"{exported / took:.0f} /s (kick-off to manifest); the "
                              f"process's peak memory grew by {grown / 1024:.0f} MiB")  # fmt: skip
                    for _ in range(0 if ndjson else rounds):
                        body = bundle("batch", entries, patients)
                        size = len(body)
                        figures["batch"].append(await timed(client, body, "201 Created"))
                        figures["again"].append(await timed(client, body, "200 OK"))
                        tx = bundle("transaction", entries, patients)
                        figures["tx"].append(await timed(client, tx, "201 Created"))
        finally:
            embedded.stop()
    what = "lines of NDJSON" if ndjson else "entries a Bundle"
    print(f"{entries} {what} ({size / 1024:.0f} KiB), {rounds} rounds, median:")
    names = {
        "batch": "batch, all created",
        "again": "batch again, all unchanged",
        "tx": "transaction, all created",
        "ndjson": "$import, all created",
        "ndjson again": "$import again, all unchanged",
        "ndjson changed": "$import changed, all corrected",
        "read": "reading alone, validated",
        "read bare": "reading alone, not validated",
    }
    for name, seconds in figures.items():
        median = statistics.median(seconds)
        print(f"  {names[name]:<30} {median:6.2f} s  {entries / median:7.0f} /s")
        sides = cpu.get(name) if ndjson else None
        for side, used in (sides or {}).items():
            per_line = statistics.median(used) / entries * 1e6
            print(f"      CPU, {side:<18} {per_line:6.1f} us a line")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--ndjson", action="store_true", help="POST /fhir/$import instead")
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="CARELOG_FHIR_IMPORT_PROCESSES: processes that read $import's lines (0: a thread)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.entries, args.rounds, args.patients, args.ndjson, args.processes))
    sys.exit(0)
