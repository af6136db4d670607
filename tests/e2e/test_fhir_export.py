"""FHIR Bulk Data export (issue 13): kick-off with Prefer: respond-async, polling, the
manifest, the NDJSON files per type, _type and _since, another principal or tenant told
404, cancel with DELETE, a job that survives the service's restart, and a history longer
than one read, read page by page."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B.operationoutcome import OperationOutcome

from carelog.api.app import create_app
from carelog.services.fhir.export import run_export
from carelog.services.jobs import JobWorker
from carelog.settings import Settings
from carelog.storage.db import Connection, Pool
from tests.factories import (
    audit_rows,
    bearer,
    client_address,
    correct,
    glucose,
    make_token,
    new_patient,
    new_tenant,
    record,
    retract,
)

pytestmark = pytest.mark.e2e

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


async def kick_off(
    client: httpx.AsyncClient, headers: dict[str, str], path: str = "/fhir/$export", **params: str
) -> str:
    response = await client.get(path, params=params, headers={**headers, **ASYNC})
    assert response.status_code == 202, response.text
    location = response.headers["content-location"]
    assert location.startswith("http://carelog.test/fhir/$export-status/")
    return location


async def finished(
    client: httpx.AsyncClient, headers: dict[str, str], location: str, *, seconds: float = 30
) -> dict[str, Any]:
    """Poll the status URL until the manifest comes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        response = await client.get(location, headers=headers)
        if response.status_code == 200:
            manifest: dict[str, Any] = response.json()
            return manifest
        assert response.status_code == 202, response.text
        assert response.headers["x-progress"]
        assert response.headers["retry-after"] == "1"
        assert loop.time() < deadline, "the export did not finish"
        await asyncio.sleep(0.1)


async def download(
    client: httpx.AsyncClient, headers: dict[str, str], manifest: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """Every file of the manifest, by type."""
    found: dict[str, list[dict[str, Any]]] = {}
    for output in manifest["output"]:
        response = await client.get(output["url"], headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/fhir+ndjson"
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert len(lines) == output["count"]
        assert {r["resourceType"] for r in lines} == {output["type"]}
        found.setdefault(output["type"], []).extend(lines)
    return found


async def _patient_with_records(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    patient = new_patient()
    await record(
        client, headers, patient, "lab_result",
        {"test": "Glucose", "loinc": "2345-7", "value": 98, "unit": "mg/dL"},
        occurred_at="2026-01-03T09:00:00Z",
    )  # fmt: skip
    await record(
        client, headers, patient, "condition",
        {"name": "Type 2 diabetes mellitus", "icd10": "E11.9", "clinical_status": "active"},
        occurred_at="2026-01-04T10:00:00Z",
    )  # fmt: skip
    return patient


@pytest.mark.usefixtures("worker")
async def test_kick_off_poll_manifest_download_and_cancel(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    writer = bearer(await make_token(pool, tenant))
    first, second = (
        await _patient_with_records(client, writer),
        await _patient_with_records(client, writer),
    )
    location = await kick_off(client, writer)
    manifest = await finished(client, writer, location)
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []
    assert manifest["request"].startswith("http://carelog.test/fhir/$export")
    assert datetime.fromisoformat(manifest["transactionTime"]) <= datetime.now(UTC)
    files = await download(client, writer, manifest)
    assert sorted(files) == ["Condition", "Observation", "Patient"]
    assert sorted(p["identifier"][0]["value"] for p in files["Patient"]) == sorted([first, second])
    assert len(files["Observation"]) == len(files["Condition"]) == 2
    assert {o["valueQuantity"]["value"] for o in files["Observation"]} == {98}

    # Cancel (here: forget the finished job): the status and the files are gone.
    deleted = await client.delete(location, headers=writer)
    assert deleted.status_code == 202, deleted.text
    assert (await client.get(location, headers=writer)).status_code == 404
    assert (await client.get(manifest["output"][0]["url"], headers=writer)).status_code == 404
    assert (await client.delete(location, headers=writer)).status_code == 404
    actions = [
        (r["action"], r["route"], r["outcome"])
        for r in await audit_rows(pool, tenant)
        if (r["route"] or "").startswith("/fhir/$export")
    ]
    assert ("execute", "/fhir/$export", "success") in actions
    assert ("read", "/fhir/$export-files/{job_id}/{resource_type}/{part}", "success") in actions
    assert ("execute", "/fhir/$export-status/{job_id}", "success") in actions


@pytest.mark.usefixtures("worker")
async def test_type_and_since(client: httpx.AsyncClient, pool: Pool) -> None:
    writer = bearer(await make_token(pool, new_tenant()))
    early = await _patient_with_records(client, writer)
    await asyncio.sleep(0.01)
    since = datetime.now(UTC).isoformat()
    later = await _patient_with_records(client, writer)
    only = await download(
        client,
        writer,
        await finished(client, writer, await kick_off(client, writer, _type="Observation")),
    )
    assert list(only) == ["Observation"]
    assert len(only["Observation"]) == 2
    recent = await download(
        client,
        writer,
        await finished(
            client, writer, await kick_off(client, writer, "/fhir/Patient/$export", _since=since)
        ),
    )
    assert [p["identifier"][0]["value"] for p in recent["Patient"]] == [later]
    assert [o["subject"]["reference"] for o in recent["Observation"]] == [f"Patient/{later}"]
    assert early not in json.dumps(recent)


@pytest.mark.parametrize("path", ["/fhir/$export", "/fhir/Patient/$export"])
async def test_without_prefer_respond_async_it_is_400_with_an_outcome(
    client: httpx.AsyncClient, pool: Pool, path: str
) -> None:
    writer = bearer(await make_token(pool, new_tenant()))
    for prefer in ({}, {"Prefer": "return=minimal"}):
        response = await client.get(path, headers={**writer, **prefer})
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/fhir+json"
        body = response.json()
        OperationOutcome.model_validate(body)
        assert [i["expression"] for i in body["issue"]] == [["Prefer"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"_outputFormat": "text/csv"}, "_outputFormat"),
        ({"_since": "yesterday"}, "_since"),
        ({"_since": "2026-01-01T00:00:00"}, "_since"),
        ({"_type": "Observation,Claim"}, "_type"),
    ],
)
async def test_parameters_it_cannot_serve_are_422(
    client: httpx.AsyncClient, pool: Pool, params: dict[str, str], field: str
) -> None:
    writer = bearer(await make_token(pool, new_tenant()))
    response = await client.get("/fhir/$export", params=params, headers={**writer, **ASYNC})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.usefixtures("worker")
async def test_another_principal_or_tenant_is_told_404(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    writer = bearer(await make_token(pool, tenant))
    await _patient_with_records(client, writer)
    location = await kick_off(client, writer)
    manifest = await finished(client, writer, location)
    colleague = bearer(await make_token(pool, tenant))  # same tenant, another key
    stranger = bearer(await make_token(pool, new_tenant()))
    for other in (colleague, stranger):
        assert (await client.get(location, headers=other)).status_code == 404
        assert (await client.get(manifest["output"][0]["url"], headers=other)).status_code == 404
        assert (await client.delete(location, headers=other)).status_code == 404
    assert (await client.get(location, headers=writer)).status_code == 200
    # Another tenant's export holds nothing of this one's.
    theirs = await finished(client, stranger, await kick_off(client, stranger))
    assert theirs["output"] == []


@asynccontextmanager
async def instance(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another instance of the service on the same database, started and stopped."""
    app: FastAPI = create_app(settings.model_copy(update=changes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client_address())
        async with httpx.AsyncClient(transport=transport, base_url="http://carelog.test") as c:
            yield c


async def _job_state(dba: Connection, location: str) -> tuple[str, str | None]:
    job_id = location.rsplit("/", 1)[1]
    cur = await dba.execute("SELECT state, worker FROM export_jobs WHERE id = %s", (job_id,))
    row = await cur.fetchone()
    assert row is not None
    return str(row[0]), row[1]


async def test_a_job_queued_when_the_service_stops_is_done_by_the_next(
    settings: Settings, pool: Pool, dba: Connection
) -> None:
    tenant = new_tenant()
    token = bearer(await make_token(pool, tenant))
    # An instance that runs no worker takes the kick-off and stops before anyone runs it.
    async with instance(settings, export_workers=0) as first:
        patient = await _patient_with_records(first, token)
        location = await kick_off(first, token)
        assert (await first.get(location, headers=token)).status_code == 202
    assert await _job_state(dba, location) == ("queued", None)
    async with instance(settings, export_workers=1, export_poll_seconds=0.05) as second:
        files = await download(second, token, await finished(second, token, location))
    assert [p["identifier"][0]["value"] for p in files["Patient"]] == [patient]


async def test_a_job_whose_worker_died_is_taken_up_again(
    settings: Settings, pool: Pool, dba: Connection
) -> None:
    tenant = new_tenant()
    token = bearer(await make_token(pool, tenant))
    async with instance(settings, export_workers=0) as first:
        await _patient_with_records(first, token)
        location = await kick_off(first, token)
    # As a worker that died half-way leaves it: running, a part written, its heartbeat old.
    job_id = location.rsplit("/", 1)[1]
    await dba.execute(
        "UPDATE export_jobs SET state = 'running', worker = 'dead:1', "
        "heartbeat_at = now() - interval '1 hour' WHERE id = %s",
        (job_id,),
    )
    await dba.execute(
        "INSERT INTO export_files (tenant_id, job_id, resource_type, part, count, body) "
        "VALUES (%s, %s, 'Observation', 1, 1, '\\x7b7d0a')",
        (tenant, job_id),
    )
    async with instance(settings, export_workers=1, export_poll_seconds=0.05) as second:
        assert (await second.get(location, headers=token)).status_code == 202
        manifest = await finished(second, token, location)
        files = await download(second, token, manifest)
    assert len(files["Observation"]) == 1  # the dead worker's part is not in it
    assert files["Observation"][0]["resourceType"] == "Observation"
    assert (await _job_state(dba, location))[0] == "done"


async def test_a_queued_export_cancelled_never_runs(
    client: httpx.AsyncClient, pool: Pool, dba: Connection
) -> None:
    token = bearer(await make_token(pool, new_tenant()))
    await _patient_with_records(client, token)
    location = await kick_off(client, token)  # the session's app runs no worker: queued
    status = await client.get(location, headers=token)
    assert (status.status_code, status.headers["x-progress"]) == (202, "queued")
    cancelled = await client.delete(location, headers=token)
    assert cancelled.status_code == 202
    assert cancelled.headers["content-type"] == "application/fhir+json"
    assert (await client.get(location, headers=token)).status_code == 404
    job_id = location.rsplit("/", 1)[1]
    cur = await dba.execute("SELECT count(*) FROM export_jobs WHERE id = %s", (job_id,))
    assert await cur.fetchone() == (0,)


@asynccontextmanager
async def export_worker(
    pool: Pool, *, events_per_read: int, patients_per_read: int
) -> AsyncIterator[None]:
    """An export worker for the block whose reads hold at most these many events and
    patients."""
    run = functools.partial(
        run_export, events_per_read=events_per_read, patients_per_read=patients_per_read
    )
    task = asyncio.create_task(
        JobWorker(pool, run, poll_seconds=0.05, stale_seconds=60).run_forever()
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_history_longer_than_a_read_is_read_page_by_page(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    # Three events a read: one patient's 9 events take 4 pages (the last one empty), a
    # correction and a retraction land on other pages than the events they revise, and two
    # small patients share a read. The export is what the patients' own Bundles hold.
    tenant = new_tenant()
    writer = bearer(await make_token(pool, tenant))
    long, small, smaller = new_patient(), new_patient(), new_patient()
    ids = []
    for day in range(1, 8):
        ids.append(await record(
            client, writer, long, "lab_result",
            glucose(90 + day),
            occurred_at=f"2026-01-{day:02d}T09:00:00Z",
        ))  # fmt: skip
    await correct(client, writer, ids[0], glucose(140))
    await retract(client, writer, ids[3])
    await _patient_with_records(client, writer)  # (a patient of two events)
    for patient in (small, smaller):
        await record(
            client, writer, patient, "condition",
            {"name": "Essential hypertension", "icd10": "I10", "clinical_status": "active"},
            occurred_at="2026-01-05T10:00:00Z",
        )  # fmt: skip

    async with export_worker(pool, events_per_read=3, patients_per_read=2):
        files = await download(
            client, writer, await finished(client, writer, await kick_off(client, writer))
        )
    values = sorted(
        o["valueQuantity"]["value"]
        for o in files["Observation"]
        if o["subject"]["reference"] == f"Patient/{long}"
    )
    assert values == [92, 93, 95, 96, 97, 140]  # 91 corrected to 140, 94 retracted
    exported = sorted(json.dumps(r, sort_keys=True) for rs in files.values() for r in rs)
    patients = [p["identifier"][0]["value"] for p in files["Patient"]]
    assert len(patients) == len(set(patients)) == 4
    expected = []
    for patient in patients:
        response = await client.get(f"/patients/{patient}/fhir", headers=writer)
        assert response.status_code == 200, response.text
        expected += [json.dumps(e["resource"], sort_keys=True) for e in response.json()["entry"]]
    assert exported == sorted(expected)


async def test_a_long_history_read_in_two_passes_exports_what_one_read_does(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    # The same kick-offs (all, _type, _since) exported with reads of 2 events (the long
    # history read in two passes: which versions are current, then only those) and with the
    # default reads (one statement a group): the same resources.
    tenant = new_tenant()
    writer = bearer(await make_token(pool, tenant))
    patient = new_patient()
    ids = [
        await record(
            client, writer, patient, "lab_result",
            glucose(100 + n),
            occurred_at=f"2026-02-{n:02d}T08:00:00Z",
        )
        for n in range(1, 7)
    ]  # fmt: skip
    await _patient_with_records(client, writer)
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    await asyncio.sleep(0.01)
    await correct(client, writer, ids[1], glucose(150))
    await retract(client, writer, ids[4])
    kick_offs: list[dict[str, str]] = [{}, {"_type": "Observation"}, {"_type": "Patient"},
                                       {"_type": "Condition"}, {"_since": since}]  # fmt: skip

    async def exported(limits: dict[str, int]) -> list[list[str]]:
        found = []
        async with export_worker(pool, **limits):
            for params in kick_offs:
                location = await kick_off(client, writer, **params)
                files = await download(client, writer, await finished(client, writer, location))
                found.append(
                    sorted(json.dumps(r, sort_keys=True) for v in files.values() for r in v)
                )
        return found

    paged = await exported({"events_per_read": 2, "patients_per_read": 1})
    whole = await exported({"events_per_read": 20_000, "patients_per_read": 200})
    assert paged == whole
    everything, observations, patients, conditions, recent = paged
    assert len(patients) == 2
    assert len(conditions) == 1
    assert len(observations) == 6 - 1 + 1  # 6 labs, one retracted, one from the other patient
    assert len(everything) == len(observations) + len(patients) + len(conditions)
    # _since: the corrected lab of the long history and its Patient, nothing else.
    assert len(recent) == 2
    assert any('"value": 150' in r for r in recent)
