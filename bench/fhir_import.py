"""FHIR import benchmark: POST /fhir with a batch Bundle of 1,000 lab Observations.

Hypothesis
----------
An import costs about a millisecond an entry: each resource is validated against R4 with
``fhir.resources`` (about 0.45 ms, the unit tests measured), read, then stored as one event
with its audit row and one row of ``fhir_imports`` in a transaction of its own (a batch) or in
one transaction (a transaction Bundle), the lookups of what was imported before done in one
query for the whole Bundle. A re-import of the same Bundle writes nothing (unchanged), so it
costs the validation and the one lookup.

Run
---
From the repository root::

    python bench/fhir_import.py                     # 1,000 entries, batch and transaction
    python bench/fhir_import.py --entries 500 --rounds 5

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
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from carelog.api.app import create_app
from carelog.domain.principals import ApiKeyCreate
from carelog.services.auth.keys import issue_key
from carelog.settings import Settings
from carelog.storage.embedded import EmbeddedPostgres


def observation(resource_id: str, patient: str, value: float) -> dict[str, Any]:
    """A synthetic glucose result, as an EHR would send it."""
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "meta": {"versionId": "1"},
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


async def main(entries: int, rounds: int, patients: int) -> None:
    with tempfile.TemporaryDirectory(prefix="carelog-fhir-bench-") as folder:
        embedded = EmbeddedPostgres(Path(folder))
        embedded.start()
        try:
            settings = Settings(
                database_url=embedded.url("postgres"),
                rate_limit_per_second=0,
                auth_failure_rate_per_second=0,
                access_log=False,
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                pool = app.state.runtime.pool
                key = await issue_key(
                    pool,
                    ApiKeyCreate(
                        tenant_id="bench", scopes=frozenset({"events:write"}), name="bench"
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
                    size = 0
                    for _ in range(rounds):
                        body = bundle("batch", entries, patients)
                        size = len(body)
                        figures["batch"].append(await timed(client, body, "201 Created"))
                        figures["again"].append(await timed(client, body, "200 OK"))
                        tx = bundle("transaction", entries, patients)
                        figures["tx"].append(await timed(client, tx, "201 Created"))
        finally:
            embedded.stop()
    print(f"{entries} entries a Bundle ({size / 1024:.0f} KiB), {rounds} rounds, median:")
    names = {
        "batch": "batch, all created",
        "again": "batch again, all unchanged",
        "tx": "transaction, all created",
    }
    for name, seconds in figures.items():
        median = statistics.median(seconds)
        print(f"  {names[name]:<28} {median:6.2f} s  {entries / median:7.0f} entries/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--patients", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.entries, args.rounds, args.patients))
    sys.exit(0)
