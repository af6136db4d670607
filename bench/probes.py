"""Hostile input and failure probes (issue 9): each of the issue's figures, measured again.

Issue 9 opened with figures of what held (no acknowledged write lost or doubled through kill -9s
and database stops, no cross-tenant rows, revoked keys refused at once, no 5xx from injection
strings, no patient id in the logs) and of what did not (503s after a database restart, a
request waiting behind a disconnected client, no access log with two workers, backtracking
patterns, fetched ``$ref`` URLs, an audit table grown by made-up tokens, rejected bodies left
unaudited). Each subcommand here measures one of them against the current code, over HTTP,
on a real ``carelog serve`` (uvicorn workers) against a throwaway PostgreSQL 16 (the
``pgserver`` wheel's) in a temporary folder, which the probes stop and start themselves.

These are not tests: the kill -9 and restart probes take minutes and need a quiet machine to
mean much. Each prints one JSON object per probe on stdout (progress on stderr); ``all`` runs
every probe in turn and writes them to ``bench/results/probes-<timestamp>.json`` too.
The figures and commands of a run are in ``docs/security.md``.

Run from the repository root::

    python bench/probes.py all                        # every probe, about 10 minutes
    python bench/probes.py durability --seconds 60    # one probe; --help lists them
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg

from bench_common import BENCH_DIR, say
from bench_service import Service, free_port
from carelog.domain.principals import ApiKeyCreate
from carelog.services.auth.keys import issue_key, revoke_key
from carelog.storage.db import create_pool
from carelog.storage.embedded import EmbeddedPostgres

Result = dict[str, Any]
# Every patient id a probe uses has this shape, so that the log scan can look for all of them.
PATIENT_PREFIX = "PRB"
PATIENT_RE = re.compile(rf"{PATIENT_PREFIX}[A-Z]-\d{{4}}")
TOKEN_RE = re.compile(r"clk_[A-Za-z0-9_-]{8,}")
LOG_LINE_RE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
)
ALL_SCOPES = ("events:read", "events:write", "audit:read", "admin")


def patient(kind: str, number: int) -> str:
    """A probe's synthetic patient id, e.g. ``PRBD-0042``."""
    return f"{PATIENT_PREFIX}{kind}-{number:04d}"


def lab_result(patient_id: str, value: float) -> dict[str, Any]:
    """A synthetic lab result event."""
    return {
        "patient_id": patient_id,
        "event_type": "lab_result",
        "payload": {"test": "hba1c", "value": value, "unit": "%"},
    }


def note(patient_id: str, text: str) -> dict[str, Any]:
    """A synthetic triage note (searchable text)."""
    return {
        "patient_id": patient_id,
        "event_type": "triage_note",
        "payload": {"text": text, "severity": "low"},
    }


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


class Lab:
    """A throwaway PostgreSQL and the services started against it, in one temporary folder."""

    def __init__(self, root: Path, *, keep: bool) -> None:
        self.root = root
        self.keep = keep
        self.pg = EmbeddedPostgres(root / "pg")
        self.url = ""
        self.services: list[Service] = []
        self.logs: list[Path] = []

    def __enter__(self) -> Lab:
        say(f"starting a throwaway PostgreSQL in {self.root / 'pg'}")
        self.url = self.pg.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_services()
        self.pg.stop(force=True)
        if self.keep:
            say(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def service(
        self, *, workers: int = 1, access_log: bool = True, env: dict[str, str | None] | None = None
    ) -> Service:
        """A started ``carelog serve`` on this database (its log kept for the log scan)."""
        log = self.root / f"service-{len(self.logs):02d}-w{workers}.log"
        self.logs.append(log)
        service = Service(
            self.root / "service",
            free_port(),
            workers,
            log,
            access_log=access_log,
            database_url=self.url,
            env=env,
        )
        service.start()
        self.services.append(service)
        return service

    def stop_services(self) -> None:
        """SIGTERM every service this lab started."""
        for service in self.services:
            service.stop()
        self.services.clear()

    def restart_database(self, down_seconds: float) -> None:
        """Stop PostgreSQL (fast shutdown), leave it down, start it again."""
        self.pg.stop(force=True)
        time.sleep(down_seconds)
        self.pg.start()

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one statement run as the tables' owner (across tenants)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def count(self, query: str, params: tuple[Any, ...] = ()) -> int:
        """The single integer one statement returns."""
        value: int = self.sql(query, params)[0][0]
        return value

    async def key(
        self,
        tenant: str,
        scopes: tuple[str, ...] = ALL_SCOPES,
        *,
        patients: list[str] | None = None,
    ) -> tuple[str, str]:
        """A new key of ``tenant``: (token, key id)."""
        pool = create_pool(self.url, min_size=1, max_size=1, timeout=10, as_app=False)
        await pool.open(wait=True, timeout=30)
        try:
            issued = await issue_key(
                pool,
                ApiKeyCreate(
                    tenant_id=tenant,
                    scopes=frozenset(scopes),
                    name="probe",
                    patients=frozenset(patients) if patients else None,
                ),
            )
        finally:
            await pool.close()
        return issued.token, issued.key.key_id

    async def revoke(self, key_id: str) -> None:
        """Revoke a key as ``carelog keys revoke`` does (NOTIFY included)."""
        pool = create_pool(self.url, min_size=1, max_size=1, timeout=10, as_app=False)
        await pool.open(wait=True, timeout=30)
        try:
            await revoke_key(pool, key_id)
        finally:
            await pool.close()


def client(
    service: Service, token: str | None = None, timeout: float = 30.0, *, fresh: bool = False
) -> httpx.AsyncClient:
    """An HTTP client of ``service``, authenticated as ``token`` if given. ``fresh``: a new
    connection per request, so that requests spread over the workers (a kept-alive connection
    stays with one)."""
    return httpx.AsyncClient(
        base_url=service.base_url,
        headers=bearer(token) if token else {},
        timeout=timeout,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=0 if fresh else 64),
    )


async def post_events(http: httpx.AsyncClient, events: list[dict[str, Any]]) -> list[int]:
    """Write events (each must be acknowledged); their ids."""
    ids = []
    for event in events:
        response = await http.post("/patient-events", json=event)
        if response.status_code != 200:
            raise RuntimeError(f"setup write failed: {response.status_code} {response.text[:300]}")
        ids.append(int(response.json()["id"]))
    return ids


def audit_tables(lab: Lab) -> list[str]:
    """Tables that record attempts: the audit trail and anything added beside it."""
    rows = lab.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' AND (table_name LIKE '%%audit%%' OR table_name LIKE "
        "'%%attempt%%') AND table_name <> 'audit_heads' ORDER BY 1"
    )
    return [str(row[0]) for row in rows]


def table_counts(lab: Lab) -> dict[str, int]:
    """Row counts of :func:`audit_tables`."""
    return {name: lab.count(f'SELECT count(*) FROM "{name}"') for name in audit_tables(lab)}


# ---------------------------------------------------------------------------------------------
# durability: kill -9 of the service and database stops under acknowledged writes


async def probe_durability(lab: Lab, args: argparse.Namespace) -> Result:
    """Writers push idempotent writes; the service is killed and the database stopped under
    them. Every acknowledged write must be there exactly once."""
    # Access log on: its lines (and those cut by kill -9) are part of the log scan.
    service = lab.service(workers=args.workers, access_log=True)
    token, _ = await lab.key("probe-durable", ("events:write",))
    acked: dict[str, int] = {}
    retried: set[str] = set()
    failures: Counter[str] = Counter()
    counter = iter(range(10**9))
    stop_at = time.monotonic() + args.seconds
    give_up_at = stop_at + 120.0

    async def writer(http: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            seq = next(counter)
            key = f"dur-{seq}"
            body = lab_result(patient("D", seq % 500), round(4 + (seq % 60) / 10, 1))
            while time.monotonic() < give_up_at:
                try:
                    response = await http.post(
                        "/patient-events", json=body, headers={"Idempotency-Key": key}
                    )
                except httpx.TransportError as exc:
                    failures[type(exc).__name__] += 1
                else:
                    if response.status_code == 200:
                        acked[key] = int(response.json()["id"])
                        break
                    failures[str(response.status_code)] += 1
                    if response.status_code < 500:
                        break  # refused for good: not acknowledged, must not be written
                retried.add(key)
                await asyncio.sleep(0.25)

    plan = ["kill", "db"] * min(args.kills, args.db_stops)
    plan += ["kill"] * (args.kills - min(args.kills, args.db_stops))
    plan += ["db"] * (args.db_stops - min(args.kills, args.db_stops))
    disruptions: list[dict[str, Any]] = []

    async def disrupt() -> None:
        started = time.monotonic()
        for number, what in enumerate(plan, start=1):
            at = started + args.seconds * number / (len(plan) + 1)
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            before = len(acked)
            began = time.monotonic()
            if what == "kill":
                say(f"durability: kill -9 of the service ({len(acked)} acknowledged so far)")
                service.kill()
                await asyncio.to_thread(service.start)
            else:
                say(f"durability: stopping PostgreSQL ({len(acked)} acknowledged so far)")
                await asyncio.to_thread(lab.restart_database, args.db_down)
            disruptions.append(
                {
                    "what": "kill -9 service" if what == "kill" else "database stop/start",
                    "at_s": round(began - started, 1),
                    "outage_s": round(time.monotonic() - began, 1),
                    "acked_before": before,
                }
            )

    async def progress() -> None:
        while time.monotonic() < stop_at:
            await asyncio.sleep(15)
            say(f"durability: {len(acked)} acknowledged")

    async with client(service, token, timeout=10.0) as http:
        await asyncio.gather(disrupt(), progress(), *(writer(http) for _ in range(args.writers)))
    say("durability: counting rows")
    rows = lab.sql(
        "SELECT idempotency_key, array_agg(id) FROM patient_events "
        "WHERE tenant_id = 'probe-durable' GROUP BY idempotency_key"
    )
    present = {str(key): [int(i) for i in ids] for key, ids in rows}
    lost = [key for key in acked if key not in present]
    doubled = [key for key, ids in present.items() if len(ids) > 1]
    wrong_id = [key for key, ident in acked.items() if key in present and ident not in present[key]]
    unacked_present = [key for key in present if key not in acked]
    lab.stop_services()
    return {
        "probe": "durability",
        "workers": args.workers,
        "writers": args.writers,
        "seconds": args.seconds,
        "disruptions": disruptions,
        "acknowledged": len(acked),
        "acknowledged_after_retry": len(retried & acked.keys()),
        "rows": sum(len(ids) for ids in present.values()),
        "lost": len(lost),
        "doubled": len(doubled),
        "acked_id_mismatch": len(wrong_id),
        "written_not_acknowledged": len(unacked_present),
        "failed_attempts": dict(failures),
    }


# ---------------------------------------------------------------------------------------------
# isolation: one tenant asks for another's ids, on every route that takes one


async def probe_isolation(lab: Lab, args: argparse.Namespace) -> Result:
    """Two tenants with the same patient ids; each asks for the other's data on every route."""
    service = lab.service(workers=1)
    tenants = {"probe-iso-a": "azure", "probe-iso-b": "zebra"}
    shared = [patient("S", n) for n in range(args.patients)]
    own = {
        t: [patient("A" if t.endswith("a") else "B", n) for n in range(args.patients)]
        for t in tenants
    }
    tokens: dict[str, str] = {}
    key_ids: dict[str, str] = {}
    ids: dict[str, list[int]] = {}
    for tenant, word in tenants.items():
        tokens[tenant], key_ids[tenant] = await lab.key(tenant)
        async with client(service, tokens[tenant]) as http:
            events = [
                note(p, f"{word} marker {word}{n}") for n, p in enumerate(shared + own[tenant])
            ]
            ids[tenant] = await post_events(http, events)
            registered = await http.put(
                f"/event-types/{word}_type", json={"schema": {"type": "object"}}
            )
            assert registered.status_code == 200, registered.text
    checks = 0
    leaks = 0
    leak_examples: list[str] = []
    statuses: Counter[str] = Counter()

    def leaked(url: str, body: str, other: str) -> int:
        """Rows (or mentions) of ``other``'s data in an answer to the asker."""
        found = len(re.findall(rf"\b{tenants[other]}", body)) + body.count(key_ids[other])
        try:
            parsed = json.loads(body)
        except ValueError:
            return found
        rows: list[Any] = parsed if isinstance(parsed, list) else [parsed]
        if url.startswith("/audit-events"):
            # The asker's own trail names the ids it asked for; a row of the other's is a leak.
            return found + sum(
                int(isinstance(r, dict) and r.get("tenant_id") == other) for r in rows
            )
        found += sum(body.count(f'"{p}"') for p in own[other])
        theirs = set(ids[other])
        for row in rows:
            if isinstance(row, dict):
                found += int(row.get("id") in theirs)
        return found

    for tenant in tenants:
        other = next(t for t in tenants if t != tenant)
        word = tenants[other]
        requests: list[tuple[str, str, dict[str, Any] | None]] = []
        for p in shared + own[other]:
            requests += [
                ("GET", f"/patient-events/{p}", None),
                ("GET", f"/patients/{p}/context", None),
                ("GET", f"/patients/{p}/context?format=markdown", None),
                ("GET", f"/audit-events?patient_id={p}", None),
                ("GET", f"/search?q={word}&patient_id={p}", None),
            ]
        for event_id in ids[other][: args.patients]:
            requests += [
                ("GET", f"/events/{event_id}", None),
                (
                    "POST",
                    f"/events/{event_id}/corrections",
                    {"payload": {"text": "x"}, "reason": "probe"},
                ),
                ("POST", f"/events/{event_id}/retractions", {"reason": "probe"}),
            ]
        requests += [
            ("GET", f"/search?q={word}", None),
            ("GET", "/event-types", None),
            ("GET", "/audit-events?limit=500", None),
            ("GET", "/audit-events?limit=500&format=fhir", None),
            ("GET", "/audit-events/verify", None),
        ]
        async with client(service, tokens[tenant]) as http:
            for method, url, body in requests:
                response = await http.request(method, url, json=body)
                checks += 1
                statuses[str(response.status_code)] += 1
                found = leaked(url, response.text, other)
                if found:
                    leaks += found
                    leak_examples.append(f"{tenant}: {method} {url} -> {found}")
    # The detector's control: each tenant's own answers, read as if they were the other's.
    control = 0
    for tenant in tenants:
        async with client(service, tokens[tenant]) as http:
            for url in (f"/search?q={tenants[tenant]}", f"/patient-events/{own[tenant][0]}"):
                control += leaked(url, (await http.get(url)).text, tenant)
    written = lab.count(
        "SELECT count(*) FROM patient_events WHERE tenant_id IN ('probe-iso-a', 'probe-iso-b')"
    )
    lab.stop_services()
    return {
        "probe": "isolation",
        "checks": checks,
        "rows_of_other_tenant": leaks,
        "detector_control_own_rows_found": control,
        "examples": leak_examples[:10],
        "statuses": dict(statuses),
        "rows_written_by_cross_tenant_writes": written - sum(len(v) for v in ids.values()),
    }


# ---------------------------------------------------------------------------------------------
# revocation: how many requests a revoked key still gets through


async def probe_revocation(lab: Lab, args: argparse.Namespace) -> Result:
    """A key in use on every worker is revoked; the requests right after must be refused.

    The per-address limit of failed authentication is off here: each round's refusals would
    otherwise empty the address's bucket, and the next round's new key would wait with them.
    """
    service = lab.service(workers=args.workers, env={"CARELOG_AUTH_FAILURE_RATE_PER_SECOND": "0"})
    url = f"/patient-events/{patient('R', 1)}"
    rounds = []
    for _ in range(args.rounds):
        token, key_id = await lab.key("probe-revoke", ("events:read",))
        async with client(service, token, fresh=True) as http:
            warm = Counter([(await http.get(url)).status_code for _ in range(40)])
        await lab.revoke(key_id)
        revoked_at = time.monotonic()
        after: Counter[int] = Counter()
        first_refusal: float | None = None
        async with client(service, token, fresh=True) as http:
            for _ in range(args.requests):
                status = (await http.get(url)).status_code
                after[status] += 1
                if status == 401 and first_refusal is None:
                    first_refusal = time.monotonic() - revoked_at
        rounds.append(
            {
                "before_revoke": {str(k): n for k, n in warm.items()},  # 404: no such patient
                "after_revoke": {str(k): n for k, n in after.items()},
                "accepted_after_revoke": sum(n for k, n in after.items() if k != 401),
                "first_401_ms": None if first_refusal is None else round(first_refusal * 1000, 1),
            }
        )
    lab.stop_services()
    return {
        "probe": "revocation",
        "workers": args.workers,
        "requests_per_round": args.requests,
        "rounds": rounds,
        "accepted_after_revoke": sum(r["accepted_after_revoke"] for r in rounds),
    }


# ---------------------------------------------------------------------------------------------
# injection: hostile strings in every place a client puts text

HOSTILE = [
    "' OR '1'='1",
    "'; DROP TABLE patient_events; --",
    "1; SELECT pg_sleep(5)",
    '" OR ""="',
    "') OR ('a'='a",
    "admin'--",
    "%27%20OR%201=1",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff lone",
    "\x1b[31mred",
    "\r\nX-Injected: yes",
    "\u202egnp.exe",
    "\ufeffbom",
    "\u200b",
    "\uff21\uff44\uff4d\uff49\uff4e",  # fullwidth "Admin"
    "😀" * 50,
    "é" * 300,
    "A" * 5000,
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%00",
    "%",
    "_",
    "*",
    "\\",
    "'\\",
    "${jndi:ldap://127.0.0.1:1/a}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    "$(id)",
    "`id`",
    '{"$where": "1"}',
    "[]",
    "{}",
    "null",
    "true",
    "NaN",
    "-1",
    "0",
    "1e309",
    "9" * 40,
    "0.5",
    "2026-13-45T25:61:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59+14:00",
    "-infinity",
    ":memory:",
    "",
    " ",
    "\t",
]


def encoded(text: str) -> str:
    """``text`` percent-encoded as UTF-8 (lone surrogates as their raw bytes)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def header_safe(text: str) -> bool:
    """Whether ``text`` can be sent as a header value at all."""
    return text == text.strip() and all(0x20 <= ord(c) <= 0x7E for c in text)


def json_body(value: Any) -> bytes:
    """JSON with non-ASCII escaped, so lone surrogates travel as ``\\udXXX``."""
    return json.dumps(value, ensure_ascii=True).encode()


async def probe_injection(lab: Lab, args: argparse.Namespace) -> Result:
    """Every hostile string in every client-text place: no answer may be a 5xx."""
    service = lab.service(workers=1)
    token, _ = await lab.key("probe-inject")
    async with client(service, token) as http:
        [event_id] = await post_events(http, [lab_result(patient("I", 1), 5.1)])
        statuses: Counter[str] = Counter()
        errors: list[str] = []
        sent = 0
        skipped = 0
        p = patient("I", 1)
        for number, text in enumerate(HOSTILE):
            e = encoded(text)
            places: list[tuple[str, str, str, dict[str, str], bytes | None]] = [
                ("path patient_id", "GET", f"/patient-events/{e}", {}, None),
                ("path event_id", "GET", f"/events/{e}", {}, None),
                ("path context", "GET", f"/patients/{e}/context", {}, None),
                (
                    "path event_type",
                    "PUT",
                    f"/event-types/{e}",
                    {},
                    json_body({"schema": {"type": "object"}}),
                ),
                ("query q", "GET", f"/search?q={e}", {}, None),
                ("query since", "GET", f"/patient-events/{p}?since={e}", {}, None),
                ("query cursor", "GET", f"/patient-events/{p}?cursor={e}", {}, None),
                ("query limit", "GET", f"/patient-events/{p}?limit={e}", {}, None),
                ("query principal_id", "GET", f"/audit-events?principal_id={e}", {}, None),
                ("query format", "GET", f"/patients/{p}/context?format={e}", {}, None),
                (
                    "body patient_id",
                    "POST",
                    "/patient-events",
                    {},
                    json_body(lab_result(text, 5.0)),
                ),
                (
                    "body event_type",
                    "POST",
                    "/patient-events",
                    {},
                    json_body({**lab_result(p, 5.0), "event_type": text}),
                ),
                ("body payload text", "POST", "/patient-events", {}, json_body(note(p, text))),
                (
                    "body free payload key",
                    "POST",
                    "/patient-events",
                    {},
                    json_body(
                        {"patient_id": p, "event_type": "probe_free", "payload": {text: text}}
                    ),
                ),
                (
                    "body occurred_at",
                    "POST",
                    "/patient-events",
                    {},
                    json_body({**lab_result(p, 5.0), "occurred_at": text}),
                ),
                (
                    "body correction reason",
                    "POST",
                    f"/events/{event_id}/corrections",
                    {},
                    json_body(
                        {"payload": {"test": "hba1c", "value": 5.2, "unit": "%"}, "reason": text}
                    ),
                ),
                (
                    "body retraction reason",
                    "POST",
                    f"/events/{event_id}/retractions",
                    {},
                    json_body({"reason": text}),
                ),
                (
                    "body schema description",
                    "PUT",
                    "/event-types/probe_inject",
                    {},
                    json_body(
                        {"schema": {"type": "object", "description": text}, "description": text}
                    ),
                ),
                (
                    "header Idempotency-Key",
                    "POST",
                    "/patient-events",
                    {"Idempotency-Key": text},
                    json_body(lab_result(p, 5.0)),
                ),
                (
                    "header X-Purpose-Of-Use",
                    "GET",
                    f"/patient-events/{p}",
                    {"X-Purpose-Of-Use": text},
                    None,
                ),
                (
                    "header X-Break-Glass-Reason",
                    "GET",
                    f"/patient-events/{p}",
                    {"X-Break-Glass-Reason": text},
                    None,
                ),
                ("header Accept", "GET", f"/patients/{p}/context", {"Accept": text}, None),
            ]
            for place, method, url, headers, body in places:
                if headers and not all(header_safe(v) for v in headers.values()):
                    skipped += 1
                    continue
                if body is not None:
                    headers = {**headers, "Content-Type": "application/json"}
                response = await http.request(method, url, headers=headers, content=body)
                sent += 1
                statuses[str(response.status_code)] += 1
                if response.status_code >= 500:
                    errors.append(f"{place} #{number} {text[:30]!r}: {response.status_code}")
    lab.stop_services()
    return {
        "probe": "injection",
        "strings": len(HOSTILE),
        "requests": sent,
        "not_sendable_as_header": skipped,
        "statuses": dict(statuses),
        "5xx": sum(n for s, n in statuses.items() if s.startswith("5")),
        "examples": errors[:20],
    }


# ---------------------------------------------------------------------------------------------
# log scan: patient ids and tokens in everything the services logged


def scan_logs(paths: list[Path]) -> Result:
    """Lines, lines naming a probe's patient id, lines holding a token (bar the first-start
    banner, which prints the bootstrap key once by design)."""
    lines = 0
    patient_lines: list[str] = []
    token_lines: list[str] = []
    for path in paths:
        if not path.exists():
            continue
        text = path.read_text(errors="replace").splitlines()
        for number, line in enumerate(text):
            lines += 1
            if PATIENT_RE.search(line):
                patient_lines.append(line[:160])
            banner = number > 0 and "admin API key" in " ".join(text[max(0, number - 3) : number])
            if TOKEN_RE.search(line) and not banner:
                token_lines.append(line[:60])
    return {
        "log_lines": lines,
        "lines_with_patient_id": len(patient_lines),
        "lines_with_token": len(token_lines),
        "examples": patient_lines[:5] + token_lines[:5],
    }


async def probe_logscan(lab: Lab, args: argparse.Namespace) -> Result:
    """A mixed workload with every kind of answer, then every log line of the lab scanned
    (under ``all``, the logs of every probe before it too)."""
    service = lab.service(workers=2)
    token, _ = await lab.key("probe-logs")
    timeouts: list[str] = []
    async with client(service, token, timeout=args.timeout) as http:

        async def call(method: str, url: str, **options: Any) -> None:
            started = time.monotonic()
            try:
                await http.request(method, url, **options)
            except httpx.TimeoutException:
                stamp = datetime.now(UTC).strftime("%H:%M:%S")
                timeouts.append(f"{stamp} {method} {url} ({time.monotonic() - started:.0f} s)")
                say(f"logscan: no answer: {timeouts[-1]}")

        for n in range(args.requests // 8):
            p = patient("L", n % 100)
            await call("POST", "/patient-events", json=lab_result(p, 5.0))
            await call("POST", "/patient-events", json={**lab_result(p, 5.0), "payload": "bad"})
            await call("GET", f"/patient-events/{p}")
            await call("GET", f"/patient-events/{patient('L', 9000 + n % 100)}")
            await call("GET", f"/search?q=chest&patient_id={p}")
            await call("GET", f"/patients/{p}/context?format=markdown")
            await call("GET", f"/audit-events?patient_id={p}&limit=1")
            await call("GET", f"/patient-events/{p}", headers=bearer("clk_nope"))
    lab.stop_services()
    return {
        "probe": "logscan",
        "requests": args.requests // 8 * 8,
        "unanswered": timeouts,
        **scan_logs(lab.logs),
    }


# ---------------------------------------------------------------------------------------------
# restart: PostgreSQL restarts under an idle --workers 2 service


async def requests_ok(http: httpx.AsyncClient, url: str, count: int) -> tuple[int, list[int]]:
    """``count`` requests one after the other: how many failed, and every status."""
    codes = []
    for _ in range(count):
        try:
            codes.append((await http.get(url)).status_code)
        except httpx.TransportError:
            codes.append(0)
    return sum(code != 200 for code in codes), codes


async def probe_restart(lab: Lab, args: argparse.Namespace) -> Result:
    """Warm pools on every worker, let them idle, restart PostgreSQL, then 40 requests (and 40
    more 30 s later): every one that arrives after the database is back must succeed."""
    service = lab.service(workers=args.workers, access_log=False)
    token, _ = await lab.key("probe-restart")
    rounds = []
    async with client(service, token, fresh=True) as http:
        [_] = await post_events(http, [lab_result(patient("T", 1), 5.0)])
        url = f"/patient-events/{patient('T', 1)}"
        for number in range(args.rounds):
            # Concurrent requests so that every worker holds several pooled connections.
            await asyncio.gather(*(requests_ok(http, url, 20) for _ in range(16)))
            await asyncio.sleep(args.idle)
            say(f"restart: round {number + 1}, restarting PostgreSQL")
            await asyncio.to_thread(lab.restart_database, 1.0)
            failed, codes = await requests_ok(http, url, 40)
            await asyncio.sleep(30)
            later, later_codes = await requests_ok(http, url, 40)
            rounds.append(
                {
                    "failed_of_next_40": failed,
                    "statuses": dict(Counter(map(str, codes))),
                    "failed_of_40_after_30s": later,
                    "statuses_after_30s": dict(Counter(map(str, later_codes))),
                }
            )
    lab.stop_services()
    return {"probe": "restart", "workers": args.workers, "rounds": rounds}


# ---------------------------------------------------------------------------------------------
# disconnect: a client that goes away must not hold the pool


@contextmanager
def events_locked(lab: Lab, seconds: float) -> Iterator[None]:
    """Hold a SHARE lock on patient_events (inserts wait, reads do not) for ``seconds``."""
    conn = psycopg.connect(lab.url)
    conn.execute("LOCK TABLE patient_events IN SHARE MODE")
    timer = threading.Timer(seconds, conn.rollback)
    timer.start()
    try:
        yield
    finally:
        timer.join()
        conn.close()


def raw_post(service: Service, token: str, body: dict[str, Any]) -> socket.socket:
    """Send a POST on a bare socket and return it unread (the caller hangs up on it)."""
    data = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", service.port))
    sock.sendall(
        b"POST /patient-events HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {token}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return sock


async def probe_disconnect(lab: Lab, args: argparse.Namespace) -> Result:
    """One pooled connection; a write blocks behind a lock and its client hangs up; the next
    request's wait is measured. Then the same with the client staying: a full pool."""
    service = lab.service(
        workers=1,
        env={
            "CARELOG_POOL_MIN_SIZE": "1",
            "CARELOG_POOL_MAX_SIZE": "1",
            "CARELOG_POOL_TIMEOUT": str(args.pool_timeout),
        },
    )
    token, _ = await lab.key("probe-disconnect")
    results: dict[str, Any] = {}
    async with client(service, token) as http:
        url = f"/patient-events/{patient('C', 1)}"
        for _ in range(5):
            await http.get(url)  # the key is cached, the connection warm
        for case in ("client hangs up", "client waits"):
            with events_locked(lab, args.hold):
                sock = raw_post(service, token, lab_result(patient("C", 2), 5.0))
                await asyncio.sleep(0.5)  # the write holds the connection, waiting on the lock
                if case == "client hangs up":
                    sock.close()
                    await asyncio.sleep(0.05)
                started = time.monotonic()
                response = await http.get(url)
                waited = time.monotonic() - started
                results[case] = {
                    "next_request_ms": round(waited * 1000),
                    "status": response.status_code,
                    "code": response.json().get("code") if response.status_code >= 400 else None,
                    "retry_after": response.headers.get("retry-after"),
                }
                sock.close()
    written = lab.count("SELECT count(*) FROM patient_events WHERE tenant_id = 'probe-disconnect'")
    lab.stop_services()
    return {
        "probe": "disconnect",
        "pool_max_size": 1,
        "lock_held_s": args.hold,
        "pool_timeout_s": args.pool_timeout,
        **results,
        "abandoned_writes_stored": written,
    }


# ---------------------------------------------------------------------------------------------
# access log: the same lines whatever the worker count


def log_shape(path: Path) -> Result:
    """Access-log lines, and formatted vs bare lines (bare: no timestamp and level)."""
    lines = path.read_text(errors="replace").splitlines()
    access = sum(" carelog.access " in line for line in lines)
    formatted = [line for line in lines if LOG_LINE_RE.match(line)]
    levels = Counter(line.split()[2] for line in formatted)
    bare = [line for line in lines if not LOG_LINE_RE.match(line) and line.strip()]
    return {
        "lines": len(lines),
        "access_lines": access,
        "levels": dict(levels),
        "bare_lines": len(bare),
        "bare_examples": bare[:8],
    }


async def probe_accesslog(lab: Lab, args: argparse.Namespace) -> Result:
    """The same requests against --workers 1 and --workers 2: access lines counted."""
    shapes = {}
    for workers in (1, 2):
        service = lab.service(workers=workers, access_log=True)
        token, _ = await lab.key("probe-logs")
        async with client(service, token, fresh=True) as http:
            for n in range(args.requests):
                await http.get(f"/patient-events/{patient('G', n % 50)}")
        await asyncio.sleep(0.5)
        lab.stop_services()
        shapes[f"workers_{workers}"] = log_shape(service.log_path)
    return {"probe": "accesslog", "requests": args.requests, **shapes}


# ---------------------------------------------------------------------------------------------
# schemas: backtracking patterns and $ref URLs in tenant-registered schemas


def recording_server(hits: list[str]) -> ThreadingHTTPServer:
    """A slow local HTTP server (as an internal address could be) that records each GET."""

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            time.sleep(2.0)
            body = b'{"type": "string"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/schema+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def timed(call: Awaitable[httpx.Response]) -> tuple[int | str, float]:
    """A response's status (``no answer`` after the client's timeout) and its time in ms."""
    started = time.monotonic()
    try:
        status: int | str = (await call).status_code
    except httpx.TimeoutException:
        status = "no answer"
    return status, round((time.monotonic() - started) * 1000, 1)


async def probe_schemas(lab: Lab, args: argparse.Namespace) -> Result:
    """Register a backtracking pattern, a URL $ref and an unresolvable $ref; write events."""
    service = lab.service(workers=1)
    token, _ = await lab.key("probe-schema")
    hits: list[str] = []
    server = recording_server(hits)
    ref_url = f"http://127.0.0.1:{server.server_address[1]}/schema.json"
    out: dict[str, Any] = {"probe": "schemas"}
    p = patient("X", 1)
    async with client(service, token) as http:
        redos = {"type": "object", "properties": {"v": {"type": "string", "pattern": "^(a+)+$"}}}
        registered = await http.put("/event-types/redos_probe", json={"schema": redos})
        timings: list[dict[str, Any]] = []
        for n in range(args.min_length, args.max_length + 1, 2):
            body = {"patient_id": p, "event_type": "redos_probe", "payload": {"v": "a" * n + "!"}}
            status, ms = await timed(http.post("/patient-events", json=body))
            timings.append({"length": n + 1, "status": status, "ms": ms})
            if ms > args.stop_after_ms:
                break  # growing: the next one would block the worker for far longer
        ratios = [
            round(b["ms"] / a["ms"], 2) for a, b in itertools.pairwise(timings) if a["ms"] > 0
        ]
        out["pattern"] = {
            "registration": registered.status_code,
            "writes": timings,
            "growth_per_two_chars": ratios,
        }
        refs: dict[str, Any] = {
            "url_ref": {"$ref": ref_url},
            "nested_url_ref": {"type": "object", "properties": {"v": {"$ref": ref_url}}},
            "defs_url_ref": {"$defs": {"x": {"$ref": ref_url}}, "$ref": "#/$defs/x"},
            "id_relative_ref": {"$id": ref_url, "$ref": "other.json"},
            "unresolvable_ref": {"$ref": "#/$defs/missing"},
        }
        for name, schema in refs.items():
            status, ms = await timed(http.put(f"/event-types/{name}", json={"schema": schema}))
            write, write_ms = await timed(
                http.post(
                    "/patient-events",
                    json={"patient_id": p, "event_type": name, "payload": {"v": "x"}},
                )
            )
            out[name] = {
                "registration": status,
                "registration_ms": ms,
                "write": write,
                "write_ms": write_ms,
            }
        # Schemas stored before registration checked them (written straight into the table):
        # their writes must be refused, never a 500 and never a fetch.
        stored = {"stored_url_ref": refs["url_ref"], "stored_redos": redos}
        for name, schema in stored.items():
            lab.sql(
                "INSERT INTO tenant_event_types (tenant_id, event_type, schema) "
                "VALUES ('probe-schema', %s, %s)",
                (name, json.dumps(schema)),
            )
            payload = {"v": "a" * (timings[-1]["length"] - 1) + "!"}  # the longest so far
            write, write_ms = await timed(
                http.post(
                    "/patient-events",
                    json={"patient_id": p, "event_type": name, "payload": payload},
                )
            )
            out[name] = {"write": write, "write_ms": write_ms}
    server.shutdown()
    out["url_fetches"] = len(hits)
    lab.stop_services()
    return out


# ---------------------------------------------------------------------------------------------
# flood: made-up tokens from one address


async def probe_flood(lab: Lab, args: argparse.Namespace) -> Result:
    """``--requests`` requests, each with a new made-up token, from one address, 20 at a time:
    statuses, and the audit rows they left (counted after the service stopped, as repeats are
    written as counted rows at the end of their window or at shutdown). The service runs with
    its default rate settings."""
    service = lab.service(workers=args.workers, env={"CARELOG_RATE_LIMIT_PER_SECOND": None})
    [(mark,)] = lab.sql("SELECT clock_timestamp()")
    before = table_counts(lab)
    statuses: Counter[str] = Counter()
    started = time.monotonic()
    async with client(service) as http:

        async def one() -> None:
            token = "clk_" + secrets.token_urlsafe(32)
            response = await http.get(f"/patient-events/{patient('F', 1)}", headers=bearer(token))
            statuses[str(response.status_code)] += 1

        for batch in range(0, args.requests, 20):
            await asyncio.gather(*(one() for _ in range(min(20, args.requests - batch))))
    elapsed = time.monotonic() - started
    lab.stop_services()
    after = table_counts(lab)
    counted = lab.count(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'audit_events' AND column_name = 'attempts'"
    )
    attempts = "COALESCE(attempts, 1)" if counted else "1"
    recorded = lab.sql(
        f"SELECT outcome, status, count(*), sum({attempts}) FROM audit_events "
        "WHERE tenant_id = '-' AND route = '/patient-events/{patient_id}' "
        "AND recorded_at >= %s GROUP BY 1, 2 ORDER BY 1, 2",
        (mark,),
    )
    return {
        "probe": "flood",
        "workers": args.workers,
        "requests": args.requests,
        "seconds": round(elapsed, 1),
        "statuses": dict(statuses),
        "rows_added": {name: after[name] - before.get(name, 0) for name in after},
        "rows": sum(int(row[2]) for row in recorded),
        "attempts_recorded": sum(int(row[3]) for row in recorded),
        "by_outcome_status": [[str(o), s, int(n), int(a)] for o, s, n, a in recorded],
    }


# ---------------------------------------------------------------------------------------------
# bodyaudit: rejected bodies with a valid key are audited under the caller's tenant


async def probe_bodyaudit(lab: Lab, args: argparse.Namespace) -> Result:
    """413 (declared and streamed), 400 and 415 with a valid key, and malformed JSON with no
    key: the status, and the audit rows each left under the caller's tenant and under '-'."""
    service = lab.service(workers=1)
    token, key_id = await lab.key("probe-body", ("events:write",))
    big = json.dumps(lab_result(patient("B", 1), 5.0))[:-1] + ', "pad": "' + "x" * 1_200_000 + '"}'

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536].encode()

    cases: list[tuple[str, dict[str, str], Any, bool]] = [
        ("413 declared length", {"Content-Type": "application/json"}, big.encode(), True),
        ("413 chunked", {"Content-Type": "application/json"}, None, True),
        ("400 malformed JSON", {"Content-Type": "application/json"}, b'{"patient_id": ', True),
        ("415 text/plain", {"Content-Type": "text/plain"}, b"hello", True),
        ("malformed JSON, no key", {"Content-Type": "application/json"}, b'{"patient_id": ', False),
        ("413, no key", {"Content-Type": "application/json"}, big.encode(), False),
    ]
    out: dict[str, Any] = {"probe": "bodyaudit", "key": f"key:{key_id}"}
    [(mark,)] = lab.sql("SELECT clock_timestamp()")

    def rows_of(tenant: str) -> int:
        return lab.count("SELECT count(*) FROM audit_events WHERE tenant_id = %s", (tenant,))

    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as http:
        for name, headers, body, with_key in cases:
            mine, dash = rows_of("probe-body"), rows_of("-")
            if with_key:
                headers = {**headers, **bearer(token)}
            try:
                response = await http.post(
                    "/patient-events", headers=headers, content=streamed() if body is None else body
                )
                status: int | str = response.status_code
            except httpx.TransportError as exc:
                status = type(exc).__name__  # the service may answer and close mid-upload
            await asyncio.sleep(args.settle)  # audited after the response is sent
            newest = lab.sql(
                "SELECT tenant_id, principal_id, outcome, status FROM audit_events "
                "WHERE tenant_id IN ('probe-body', '-') AND recorded_at >= %s "
                "ORDER BY recorded_at DESC LIMIT 1",
                (mark,),
            )
            access = [
                line.split(" POST /patient-events ")[1].split()[0]
                for line in service.log_path.read_text().splitlines()
                if " carelog.access POST /patient-events " in line
            ]
            out[name] = {
                "status": status,
                "status_logged": access[-1] if access else None,
                "rows_under_tenant": rows_of("probe-body") - mine,
                "rows_under_dash": rows_of("-") - dash,
                "newest_row": [str(v) for v in newest[0]] if newest else None,
            }
    lab.stop_services()  # writes the counted repeats of the no-key attempts
    [(attempts,)] = lab.sql(
        "SELECT COALESCE(sum(COALESCE(attempts, 1)), 0) FROM audit_events "
        "WHERE tenant_id = '-' AND recorded_at >= %s",
        (mark,),
    )
    out["no_key_attempts_recorded_after_stop"] = int(attempts)
    return out


# ---------------------------------------------------------------------------------------------
# command line

Probe = Callable[[Lab, argparse.Namespace], Awaitable[Result]]
PROBES: dict[str, tuple[Probe, str]] = {
    "durability": (probe_durability, "kill -9 and database stops under acknowledged writes"),
    "isolation": (probe_isolation, "each tenant asks for the other's ids on every route"),
    "revocation": (probe_revocation, "requests a revoked key still gets through"),
    "injection": (probe_injection, "hostile strings in every client-text place: 5xx count"),
    "restart": (probe_restart, "PostgreSQL restarts under an idle --workers 2 service"),
    "disconnect": (probe_disconnect, "the next request's wait behind a client that hung up"),
    "accesslog": (probe_accesslog, "access-log lines with --workers 1 and 2"),
    "schemas": (probe_schemas, "backtracking patterns and $ref URLs in tenant schemas"),
    "flood": (probe_flood, "made-up tokens from one address: 401s, 429s, audit rows"),
    "bodyaudit": (probe_bodyaudit, "413/400/415 with a valid key: audit rows, tenant"),
    "logscan": (probe_logscan, "patient ids and tokens in every log line of the run"),
}


def parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per probe, and ``all``."""
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    top.add_argument("--keep", action="store_true", help="keep the temporary folder and logs")
    top.add_argument("--out", type=Path, help="also write the results to this JSON file")
    sub = top.add_subparsers(dest="probe", required=True)
    commands = {name: sub.add_parser(name, help=text) for name, (_, text) in PROBES.items()}
    commands["all"] = sub.add_parser("all", help="every probe in turn; logscan last, on all logs")
    for name, command in commands.items():
        every = name == "all"
        if every or name == "durability":
            command.add_argument("--seconds", type=float, default=180.0)
            command.add_argument("--writers", type=int, default=8)
            command.add_argument("--kills", type=int, default=4)
            command.add_argument("--db-stops", type=int, default=2)
            command.add_argument("--db-down", type=float, default=3.0, help="seconds down")
        if every or name in ("durability", "revocation", "restart", "flood"):
            command.add_argument("--workers", type=int, default=1 if name == "flood" else 2)
        if every or name in ("revocation", "restart"):
            command.add_argument("--rounds", type=int, default=2 if name == "restart" else 3)
        if every or name == "restart":
            command.add_argument("--idle", type=float, default=5.0, help="idle seconds first")
        if every or name == "isolation":
            command.add_argument("--patients", type=int, default=5)
        if every or name in ("revocation", "accesslog", "flood", "logscan"):
            defaults = {"revocation": 40, "accesslog": 2000, "flood": 2000, "logscan": 4000}
            command.add_argument("--requests", type=int, default=defaults.get(name, 2000))
        if every or name == "logscan":
            command.add_argument("--timeout", type=float, default=30.0, help="per request")
        if every or name == "disconnect":
            command.add_argument("--hold", type=float, default=5.0, help="lock seconds")
            command.add_argument("--pool-timeout", type=float, default=1.0)
        if every or name == "schemas":
            command.add_argument("--min-length", type=int, default=14)
            command.add_argument("--max-length", type=int, default=34)
            command.add_argument("--stop-after-ms", type=float, default=1000.0)
        if every or name == "bodyaudit":
            command.add_argument("--settle", type=float, default=1.5, help="seconds to wait")
    return top


def all_args(args: argparse.Namespace, name: str) -> argparse.Namespace:
    """``all``'s options as one probe sees them (each probe's own default where they clash)."""
    probe_defaults = vars(parser().parse_args([name]))
    merged = {**probe_defaults, **{k: v for k, v in vars(args).items() if k in probe_defaults}}
    for option in ("requests", "rounds", "workers"):  # each probe has its own default
        if option in probe_defaults:
            merged[option] = probe_defaults[option]
    return argparse.Namespace(**merged)


async def run(args: argparse.Namespace) -> list[Result]:
    """Run the chosen probe(s) in one lab."""
    results: list[Result] = []
    root = Path(tempfile.mkdtemp(prefix="carelog-probes-"))
    with Lab(root, keep=args.keep) as lab:
        names = list(PROBES) if args.probe == "all" else [args.probe]
        for name in names:
            say(f"== probe {name}")
            options = all_args(args, name) if args.probe == "all" else args
            started = time.monotonic()
            load = [round(v, 1) for v in os.getloadavg()]
            try:
                result = await PROBES[name][0](lab, options)
            except Exception as exc:  # a failed probe is a figure too: go on
                result = {"probe": name, "error": f"{type(exc).__name__}: {exc}"[:500]}
                lab.stop_services()
            result["elapsed_s"] = round(time.monotonic() - started, 1)
            result["load_average_before"] = load  # 1, 5, 15 min: a busy neighbour shows
            print(json.dumps(result), flush=True)
            results.append(result)
    return results


def main() -> None:
    """Parse the command line, run, write the results file."""
    args = parser().parse_args()
    results = asyncio.run(run(args))
    out = args.out
    if out is None and args.probe == "all":
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = BENCH_DIR / "results" / f"probes-{stamp}.json"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        say(f"results: {out}")


if __name__ == "__main__":
    main()
