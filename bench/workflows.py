"""Workflow benchmark: an escalation's life at 16 concurrent clients over 100,000 cases.

Hypothesis
----------
A transition costs about what a POST /patient-events costs plus two statements: the case
row is locked (a primary-key lookup), the transition's event is appended with its audit row,
and the row is updated, in one transaction. A queue read is an ordered index range a page at
a time (tests/integration/test_workflow_plans.py), so reading the overdue queue costs the
same over 100,000 cases as over 100.

Run
---
From the repository root::

    python bench/workflows.py                          # 100,000 cases, 16 clients, 20 rounds
    python bench/workflows.py --cases 1000 --clients 4 --rounds 5
    python bench/workflows.py --workflow prior_auth    # a prior-authorization case's life

The app runs in this process (httpx over ASGI: no HTTP server, no network) on a fresh
embedded PostgreSQL in a temporary folder, rate limit and access log off. The existing
cases are written straight into workflow_cases (a quarter of them open and overdue). Each
client then runs ``rounds`` scenarios: open an escalation, take five actions on it (three
comments, acknowledge, resolve), read it with its timeline, and read the first page of the
overdue queue. It prints the scenarios per second and each request kind's median and 95th
percentile latency.

With ``--workflow prior_auth`` the cases preloaded are prior-authorization cases (a quarter
submitted and overdue) and the scenario is a request's life: record a visit note, open a
case (its payer's checklist has one item), five actions (attach the note, submit, extend,
comment, respond with an approval), read it, read the overdue queue.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable
from pathlib import Path

import httpx

from carelog.api.app import create_app
from carelog.domain.principals import ApiKeyCreate, PrincipalKind
from carelog.services.auth.keys import issue_key
from carelog.settings import Settings
from carelog.storage.db import connect
from carelog.storage.embedded import EmbeddedPostgres

TENANT = "bench"
PRELOAD = """
INSERT INTO workflow_cases (tenant_id, case_id, workflow, patient_id, state, is_open,
    version, data, rank, sort_at, due_at, opened_at, opened_by, opened_by_kind, updated_at,
    event_ids)
SELECT %(t)s, gen_random_uuid(), %(workflow)s, 'P-pre-' || (g %% 20000),
    (%(states)s::text[])[1 + g %% 4], g %% 4 < 2, 1,
    jsonb_build_object('severity', 'urgent', 'reason', 'synthetic'), g %% 3,
    now() - make_interval(secs => g),
    CASE WHEN g %% 4 = 0 THEN now() - make_interval(secs => g) END,
    now() - make_interval(secs => g), 'key:preload', 'agent', now(), ARRAY[g::bigint]
FROM generate_series(1, %(n)s) AS g
"""

Timings = dict[str, list[float]]
STATES = {
    "escalation": ["open", "acknowledged", "resolved", "cancelled"],
    "prior_auth": ["submitted", "pended", "approved", "denied"],
}
PAYER = {
    "name": "Bench Health Plan",
    "services": [
        {"code": "70551", "requirements": [{"id": "notes", "description": "visit notes"}]}
    ],
}


async def timed(timings: Timings, kind: str, request: Awaitable[httpx.Response]) -> httpx.Response:
    started = time.perf_counter()
    response = await request
    timings[kind].append(time.perf_counter() - started)
    assert response.status_code in (200, 201), (kind, response.text[:300])
    return response


async def scenario(client: httpx.AsyncClient, timings: Timings, n: int) -> None:
    patient = f"P-bench-{n}"
    note = {"patient_id": patient, "event_type": "triage_note", "payload": {"text": "chest pain"}}
    event = await timed(timings, "event (baseline)", client.post("/patient-events", json=note))
    body = {
        "patient_id": patient,
        "severity": "urgent",
        "reason": "synthetic chest pain",
        "link_events": [event.json()["id"]],
    }
    opened = await timed(timings, "open", client.post("/escalations", json=body))
    case = opened.json()["id"]
    actions = [
        {"action": "comment", "comment": "vitals taken"},
        {"action": "comment", "comment": "SpO2 95%"},
        {"action": "acknowledge"},
        {"action": "comment", "comment": "calling the patient"},
        {"action": "resolve", "outcome": "advised, follow up tomorrow"},
    ]
    for action in actions:
        await timed(timings, "action", client.post(f"/escalations/{case}/actions", json=action))
    await timed(timings, "read", client.get(f"/escalations/{case}"))
    await timed(timings, "overdue queue", client.get("/escalations?overdue=true&limit=20"))


async def prior_auth_scenario(client: httpx.AsyncClient, timings: Timings, n: int) -> None:
    patient = f"P-bench-{n}"
    note = {"patient_id": patient, "event_type": "note", "payload": {"text": "visit notes"}}
    event = await timed(timings, "event (baseline)", client.post("/patient-events", json=note))
    body = {
        "patient_id": patient,
        "payer": {"id": "bench-payer"},
        "lines": [{"code": "70551", "description": "MRI brain", "service_from": "2026-03-10"}],
        "diagnosis_codes": ["G43.909"],
        "ordering_provider": {"npi": "1234567893"},
        "channel": "fhir_pas",
    }
    opened = await timed(timings, "open", client.post("/prior-auth-cases", json=body))
    case = opened.json()["id"]
    approval = {"number": "A-1", "valid_from": "2026-03-10", "valid_until": "2026-06-10"}
    satisfy = [{"item": "70551.notes", "event_id": event.json()["id"]}]
    actions = [
        {"action": "attach", "satisfies": satisfy},
        {"action": "submit", "tracking_number": f"T-{n}"},
        {"action": "extend", "days": 3, "reason": "peer review"},
        {"action": "comment", "comment": "payer called"},
        {"action": "respond", "decisions": [{"sequence": 1, "action": "certified"}],
         "authorization": approval},
    ]  # fmt: skip
    for action in actions:
        url = f"/prior-auth-cases/{case}/actions"
        await timed(timings, "action", client.post(url, json=action))
    await timed(timings, "read", client.get(f"/prior-auth-cases/{case}"))
    await timed(timings, "overdue queue", client.get("/prior-auth-cases?overdue=true&limit=20"))


SCENARIOS = {"escalation": scenario, "prior_auth": prior_auth_scenario}


async def client_loop(
    app: object,
    headers: dict[str, str],
    timings: Timings,
    index: int,
    rounds: int,
    workflow: str = "escalation",
) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", headers=headers, timeout=120
    ) as client:
        for r in range(rounds):
            await SCENARIOS[workflow](client, timings, index * 100_000 + r)


async def main(cases: int, clients: int, rounds: int, workflow: str = "escalation") -> None:
    with tempfile.TemporaryDirectory(prefix="carelog-workflow-bench-") as folder:
        embedded = EmbeddedPostgres(Path(folder))
        embedded.start()
        try:
            url = embedded.url("postgres")
            settings = Settings(
                database_url=url,
                rate_limit_per_second=0,
                auth_failure_rate_per_second=0,
                access_log=False,
                pool_max_size=max(16, clients + 4),
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                pool = app.state.runtime.pool
                dba = await connect(url)
                started = time.perf_counter()
                params = {"t": TENANT, "n": cases, "workflow": workflow, "states": STATES[workflow]}
                await dba.execute(PRELOAD, params)
                await dba.execute("ANALYZE workflow_cases")
                await dba.close()
                print(f"preloaded {cases} cases in {time.perf_counter() - started:.1f} s")
                key = await issue_key(
                    pool,
                    ApiKeyCreate(
                        tenant_id=TENANT,
                        scopes=frozenset({"admin"}),
                        name="bench",
                        kind=PrincipalKind.USER,
                    ),
                )
                headers = {"Authorization": f"Bearer {key.token}"}
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bench", headers=headers
                ) as admin:
                    assert (await admin.put("/payers/bench-payer", json=PAYER)).is_success
                warm: Timings = defaultdict(list)
                await client_loop(app, headers, warm, 99, 3, workflow)
                timings: Timings = defaultdict(list)
                started = time.perf_counter()
                await asyncio.gather(
                    *(
                        client_loop(app, headers, timings, i, rounds, workflow)
                        for i in range(clients)
                    )
                )
                elapsed = time.perf_counter() - started
        finally:
            embedded.stop()
    total = clients * rounds
    requests = sum(len(v) for v in timings.values())
    print(
        f"{clients} clients x {rounds} scenarios over {cases} cases: {total / elapsed:.1f} "
        f"scenarios/s, {requests / elapsed:.0f} requests/s ({elapsed:.1f} s)"
    )
    for kind, seconds in timings.items():
        ordered = sorted(seconds)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(
            f"  {kind:<17} median {statistics.median(seconds) * 1000:6.1f} ms"
            f"  p95 {p95 * 1000:6.1f} ms  ({len(seconds)} requests)"
        )


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases preloaded")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--rounds", type=int, default=20, help="scenarios per client")
    parser.add_argument("--workflow", choices=sorted(SCENARIOS), default="escalation")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse(sys.argv[1:])
    asyncio.run(main(args.cases, args.clients, args.rounds, args.workflow))
