"""Sending synthetic records to a running Carelog over its HTTP API, as an agent would.

Patients go in side by side (``concurrency`` at a time), each one's records in order: an
event is ``POST /patient-events`` with its ``idempotency_key`` as ``Idempotency-Key``; a
correction or retraction is posted to the event its ``corrects``/``retracts`` key names.
Loading again is safe: events are replayed, not doubled, and a revision of a replayed
event that finds it already revised (409 ``event-superseded``) counts as done.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

import httpx

_NOT_BODY = ("idempotency_key", "corrects", "retracts")


class LoadFailed(Exception):
    """The service refused a record; the message names it and quotes the answer."""


@dataclass
class LoadReport:
    """What a load did: records sent, by kind, and how many were already there."""

    counts: Counter[str] = field(default_factory=Counter)
    patients: int = 0


async def _load_patient(
    client: httpx.AsyncClient, records: list[dict[str, Any]], report: LoadReport
) -> None:
    ids: dict[str, int] = {}
    replayed: set[str] = set()
    for record in records:
        key = record["idempotency_key"]
        body = {k: v for k, v in record.items() if k not in _NOT_BODY}
        target = record.get("corrects") or record.get("retracts")
        if target is None:
            response = await client.post(
                "/patient-events", json=body, headers={"Idempotency-Key": key}
            )
            kind = "event"
        else:
            kind = "correction" if "corrects" in record else "retraction"
            action = "corrections" if kind == "correction" else "retractions"
            response = await client.post(f"/events/{ids[target]}/{action}", json=body)
            if response.status_code == 409 and target in replayed:
                report.counts[f"{kind} already made"] += 1
                continue
        if response.status_code not in (200, 201):
            raise LoadFailed(f"record {key}: {response.status_code} {response.text[:300]}")
        ids[key] = response.json()["id"]
        if response.headers.get("idempotent-replayed") == "true":
            replayed.add(key)
            report.counts[f"{kind} already there"] += 1
        else:
            report.counts[kind] += 1
    report.patients += 1


async def load(
    client: httpx.AsyncClient, records: Iterable[dict[str, Any]], *, concurrency: int = 8
) -> LoadReport:
    """Send ``records`` (patient after patient, as :func:`population` makes them) through
    ``client``, whose base URL and ``Authorization`` header point at the service."""
    report = LoadReport()
    gate = asyncio.Semaphore(concurrency)
    pending: set[asyncio.Task[None]] = set()

    async def one(patient_records: list[dict[str, Any]]) -> None:
        try:
            await _load_patient(client, patient_records, report)
        finally:
            gate.release()

    def patient_of(record: dict[str, Any]) -> str:
        key: str = record["idempotency_key"]
        return key.rsplit("-", 1)[0]

    try:
        for _, group in groupby(records, key=patient_of):
            await gate.acquire()  # no more patients in memory than are being sent
            for task in [t for t in pending if t.done()]:
                pending.discard(task)
                task.result()  # the first failure stops the load
            pending.add(asyncio.ensure_future(one(list(group))))
        await asyncio.gather(*pending)
    finally:
        for task in pending:
            task.cancel()
    return report
