"""POST /fhir/$import writes a batch's created lines together, through the COPY path of
POST /patient-events/batch (issue 13), and keeps what the import promised line by line: the
rows in the log as each line said (patient, type, clinical time, labels, source, tenant),
each patient's version, one audit row a patient of each batch naming its events, nothing
doubled on a re-import, a changed resource the next version of its event's chain, and the
same resource twice in one batch created once; and the same when the lines are read in
processes (CARELOG_FHIR_IMPORT_PROCESSES)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from carelog.api.app import create_app
from carelog.settings import Settings
from carelog.storage.db import Pool
from tests.e2e.fhir_import_kit import (
    heart_rate,
    issues,
    lab,
    log_rows,
    ndjson,
    of,
    patient_versions,
    put,
    said,
    summary_of,
)
from tests.factories import (
    audit_rows,
    bearer,
    client_address,
    count_events,
    make_token,
    new_patient,
    new_tenant,
)

pytestmark = pytest.mark.e2e

ROUTE = "/fhir/$import"


def location_ids(response: httpx.Response) -> dict[str, str]:
    """Each line's location (``line 3`` -> ``Observation/x/_history/1``), but the failed."""
    found = {}
    for text in said(response):
        where, _, rest = text.partition(": ")
        fate, _, location = rest.partition(" ")
        if fate in {"created", "corrected", "unchanged"}:
            found[where] = location
    return found


async def test_created_lines_are_the_log_rows_they_said_with_one_audit_row_a_batch(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, stranger, one, two = new_tenant(), new_tenant(), new_patient(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    # 1,500 lines: two batches (1,000 lines each at most), a broken line in the second.
    signs = [heart_rate(f"c{n}", one if n % 3 else two, 40 + n % 90) for n in range(1_495)]
    no_id = lab(None, of(two), 77, when="2026-01-07T09:30:00+02:00")
    body = (
        ndjson({"resourceType": "Patient", "id": one}, lab("c-bh", of(one), 5, labels=("BH",)))
        + ndjson(*signs[:1_200])
        + b'{"resourceType": "Observation", "id": "cut\n'
        + ndjson(no_id, *signs[1_200:])
    )
    response = await put(client, writer, body, **{"X-Request-ID": "ndjson-copy"})
    assert response.status_code == 200, response.text[:500]
    assert summary_of(response) == "1498 created, 0 unchanged, 1 failed"
    locations = location_ids(response)
    assert locations["line 2"] == "Observation/c-bh/_history/1"
    assert "line 1203" not in locations  # the broken line, alone

    stored = await log_rows(pool, tenant)
    assert len(stored) == 1_497 == await count_events(pool, tenant)
    assert {r["tenant_id"] for r in stored} == {tenant}
    assert {r["source"] for r in stored} == {"fhir-import"}
    assert {r["status"] for r in stored} == {"final"}
    assert all(r["supersedes"] is None for r in stored)
    by_type: dict[str, int] = {}
    for row in stored:
        by_type[row["event_type"]] = by_type.get(row["event_type"], 0) + 1
    assert by_type == {"vital_signs": 1_495, "lab_result": 2}
    [labelled] = [r for r in stored if r["labels"]]
    assert (labelled["patient_id"], labelled["labels"]) == (one, ["BH"])
    # The resource with no id is found by its event, and its clinical time is the line's.
    without = locations["line 1204"]
    event_id = int(without.split("/")[1])
    [row] = [r for r in stored if r["id"] == event_id]
    assert (row["patient_id"], row["occurred_at"].isoformat()) == (two, "2026-01-07T07:30:00+00:00")
    assert without == f"Observation/{event_id}/_history/1"
    ones = sum(1 for r in stored if r["patient_id"] == one)
    assert await patient_versions(pool, tenant) == {one: ones, two: 1_497 - ones}

    # One audit row a patient of each batch, naming that patient's events it wrote; all of
    # them in all.
    audited = [r for r in await audit_rows(pool, tenant) if r["request_id"] == "ndjson-copy"]
    assert [(r["action"], r["outcome"], r["route"]) for r in audited] == [
        ("create", "success", ROUTE)
    ] * 4
    assert sorted(r["patient_id"] for r in audited) == sorted([one, two] * 2)
    assert [r["result_count"] for r in audited] == [len(r["event_ids"]) for r in audited]
    patient_of = {r["id"]: r["patient_id"] for r in stored}
    assert all({patient_of[e] for e in r["event_ids"]} == {r["patient_id"]} for r in audited)
    named = [event for r in audited for event in r["event_ids"]]
    assert sorted(named) == [r["id"] for r in stored]

    # Row-level security: another tenant sees none of it.
    assert await count_events(pool, stranger) == 0
    other = bearer(await make_token(pool, stranger))
    listed = await client.get(f"/patient-events/{one}", headers=other)
    assert listed.status_code == 404 or listed.json() == []


async def test_a_reimport_doubles_nothing_and_a_changed_resource_extends_its_chain(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    first = [heart_rate(f"r{n}", patient, 50 + n % 40) for n in range(1_200)]
    assert summary_of(await put(client, writer, ndjson(*first))).startswith("1200 created")
    before = await log_rows(pool, tenant)
    audit_before = len(await audit_rows(pool, tenant))

    again = await put(client, writer, ndjson(*first))
    assert summary_of(again) == "0 created, 1200 unchanged, 0 failed"
    assert await log_rows(pool, tenant) == before
    # Nothing written: the request's own row only, naming no event.
    [row] = (await audit_rows(pool, tenant))[audit_before:]
    assert (row["action"], row["event_ids"]) == ("create", [])

    # Every 100th changed, one retracted: corrections of the copied events.
    changed = [dict(r) for r in first]
    for n in range(0, 1_200, 100):
        changed[n] = heart_rate(f"r{n}", patient, 200)
    changed[7] = {**first[7], "status": "entered-in-error"}
    response = await put(client, writer, ndjson(*changed))
    assert summary_of(response) == "0 created, 13 corrected, 1187 unchanged, 0 failed"
    locations = location_ids(response)
    assert locations["line 101"] == "Observation/r100/_history/2"
    assert locations["line 8"] == "Observation/r7/_history/2"
    after = await log_rows(pool, tenant)
    assert len(after) == 1_213
    original = {r["id"]: r for r in before}
    revisions = [r for r in after if r["supersedes"] is not None]
    assert len(revisions) == 13
    assert all(r["supersedes"] in original for r in revisions)
    assert sorted(r["status"] for r in revisions) == ["amended"] * 12 + ["entered-in-error"]
    assert await patient_versions(pool, tenant) == {patient: 1_213}
    # And once more: the corrected versions are what is stored now, nothing new.
    assert summary_of(await put(client, writer, ndjson(*changed))).startswith("0 created")
    assert await count_events(pool, tenant) == 1_213


async def test_the_same_resource_twice_in_one_batch(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    body = ndjson(
        heart_rate("t1", patient, 60),
        heart_rate("t1", patient, 60),  # the same again: unchanged
        heart_rate("t2", patient, 61),
        heart_rate("t2", patient, 99),  # changed: a correction of the line before's event
        lab(None, of(patient), 5),
        lab(None, of(patient), 5),  # no id, the same content: unchanged
        heart_rate("t3", patient, 62),
    )
    response = await put(client, writer, body)
    assert said(response) == [
        "line 1: created Observation/t1/_history/1",
        "line 2: unchanged Observation/t1/_history/1",
        "line 3: created Observation/t2/_history/1",
        "line 4: corrected Observation/t2/_history/2",
        said(response)[4],
        said(response)[4].replace("line 5: created", "line 6: unchanged"),
        "line 7: created Observation/t3/_history/1",
    ]
    assert said(response)[4].startswith("line 5: created Observation/")
    stored = await log_rows(pool, tenant)
    assert len(stored) == 5
    [correction] = [r for r in stored if r["supersedes"] is not None]
    assert correction["status"] == "amended"
    assert correction["supersedes"] in {r["id"] for r in stored}
    # A line whose resource is staged stores what is staged first: the created events in
    # four rows (before lines 2, 4 and 6, and at the end), the correction in its own
    # ('update', naming the event it supersedes).
    audited = [r for r in await audit_rows(pool, tenant) if r["route"] == ROUTE]
    assert sorted(r["action"] for r in audited) == ["create"] * 4 + ["update"]
    named = {event for r in audited for event in r["event_ids"]}
    assert named == {r["id"] for r in stored}


async def test_a_payload_the_log_cannot_hold_fails_its_line_alone(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    nul = lab("u2", of(patient), 2)
    nul["code"]["text"] = "bad\x00text"  # PostgreSQL's jsonb cannot hold a NUL
    long = lab("u3", of(patient), 3)
    long["valueString"] = "x" * 100_001  # over the longest string a payload may hold
    del long["valueQuantity"]
    body = ndjson(lab("u1", of(patient), 1), nul, long, lab("u4", of(patient), 4))
    response = await put(client, writer, body)
    assert summary_of(response) == "2 created, 0 unchanged, 2 failed"
    failed = [i["diagnostics"][:8] for i in issues(response) if i["severity"] == "error"]
    assert sorted(set(failed)) == ["line 2: ", "line 3: "]
    assert {r["payload"]["value"] for r in await log_rows(pool, tenant)} == {1, 4}


@pytest.fixture
async def reading_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose imports read their lines in two processes (each batch split in two)."""
    app: FastAPI = create_app(settings.model_copy(update={"fhir_import_processes": 2}))
    async with app.router.lifespan_context(app):
        assert app.state.runtime.fhir_readers is not None
        transport = httpx.ASGITransport(app=app, client=client_address())
        async with httpx.AsyncClient(transport=transport, base_url="http://carelog.test") as c:
            yield c


async def test_lines_read_in_processes_say_the_same(
    reading_client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    signs = [heart_rate(f"p{n}", patient, 40 + n % 90) for n in range(1_100)]
    # A broken line and a blank one in each half of the first batch, and in the second.
    body = (
        ndjson(*signs[:300])
        + b"not json\n\n"
        + ndjson(*signs[300:800])
        + b'{"resourceType": "Nope"}\n'
        + ndjson(*signs[800:])
    )
    response = await put(reading_client, writer, body)
    assert response.status_code == 200, response.text[:500]
    assert summary_of(response) == "1100 created, 0 unchanged, 2 failed"
    errors = [(i["code"], i["expression"][0]) for i in issues(response) if i["severity"] == "error"]
    assert errors == [("invalid", "line 301"), ("not-supported", "Nope.resourceType")]
    assert "line 803: " in said(response)[1]
    locations = location_ids(response)
    assert locations["line 300"] == "Observation/p299/_history/1"
    assert locations["line 303"] == "Observation/p300/_history/1"
    assert locations["line 1103"] == "Observation/p1099/_history/1"
    assert await count_events(pool, tenant) == 1_100
    again = await put(reading_client, writer, body)
    assert summary_of(again) == "0 created, 1100 unchanged, 2 failed"
