"""POST /fhir/$import stores a batch's corrections and retractions together (issue 13): the
events they supersede looked up for the whole batch, the newest of each chain (a correction
made through the API since the import included), one INSERT and one 'update' audit row a
patient naming each revision and what it supersedes; a key that may not see the event
fails that line alone; and a revision whose event another writer revised in the meantime
fails alone, with nothing written for it, and goes in at the next import."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from carelog.storage.db import Pool
from carelog.storage.patient_events import revision_batch
from tests.e2e.fhir_import_kit import (
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
    correct,
    glucose,
    make_token,
    new_patient,
    new_tenant,
)

pytestmark = pytest.mark.e2e

ROUTE = "/fhir/$import"


def event_of(stored: list[dict[str, Any]], value: float) -> dict[str, Any]:
    [found] = [r for r in stored if r["payload"].get("value") == value]
    return found


async def test_a_batch_of_changed_resources_is_revised_together(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, one, two = new_tenant(), new_patient(), new_patient()
    writer = bearer(await make_token(pool, tenant))  # (no sensitive:BH)
    first = [
        lab("a1", of(one), 5, labels=("BH",)),
        lab("a2", of(one), 6),
        lab("b1", of(two), 7),
        lab("r1", of(two), 8),
    ]
    assert summary_of(await put(client, writer, ndjson(*first))).startswith("4 created")
    stored = await log_rows(pool, tenant)
    # Corrected through the API since: the import's next version supersedes that one.
    by_api = await correct(client, writer, event_of(stored, 6)["id"], glucose(66))
    audit_before = len(await audit_rows(pool, tenant))

    changed = [
        lab("a1", of(one), 50, labels=("BH",)),  # its event is not this key's to see
        lab("a2", of(one), 60),
        lab("b1", of(two), 70),
        {**lab("r1", of(two), 8), "status": "entered-in-error"},
        lab("c1", of(two), 9),
    ]
    response = await put(client, writer, ndjson(*changed))
    assert summary_of(response) == "1 created, 3 corrected, 0 unchanged, 1 failed"
    [failed] = [i for i in issues(response) if i["severity"] == "error"]
    assert failed["diagnostics"] == "line 1: its earlier version is not visible to this key"
    assert failed["code"] == "forbidden"
    assert "line 2: corrected Observation/a2/_history/2" in said(response)
    assert "line 4: corrected Observation/r1/_history/2" in said(response)

    after = await log_rows(pool, tenant)
    revisions = {r["supersedes"]: r for r in after if r["supersedes"] is not None}
    a2, b1 = revisions[by_api], revisions[event_of(stored, 7)["id"]]
    r1 = revisions[event_of(stored, 8)["id"]]
    assert (a2["patient_id"], a2["payload"]["value"], a2["status"]) == (one, 60, "amended")
    assert (b1["patient_id"], b1["payload"]["value"], b1["status"]) == (two, 70, "amended")
    assert (r1["patient_id"], r1["payload"], r1["status"]) == (two, {}, "entered-in-error")
    assert a2["reason"] == b1["reason"] == "FHIR import: a new version of the resource"
    assert event_of(stored, 5)["id"] not in revisions  # the labelled one, untouched
    assert {r["labels"] == ["BH"] for r in after if r["patient_id"] == one} == {True, False}
    assert len(after) == len(stored) + 1 + 4  # the API's correction, 3 revisions, c1
    assert await patient_versions(pool, tenant) == {
        one: sum(r["patient_id"] == one for r in after),
        two: sum(r["patient_id"] == two for r in after),
    }
    # One 'update' row a patient, naming each revision and the event it supersedes.
    audited = [r for r in (await audit_rows(pool, tenant))[audit_before:] if r["route"] == ROUTE]
    updates = {r["patient_id"]: r for r in audited if r["action"] == "update"}
    assert sorted(updates) == sorted([one, two])
    assert updates[one]["event_ids"] == [a2["id"], by_api]
    assert sorted(updates[two]["event_ids"]) == sorted(
        [b1["id"], b1["supersedes"], r1["id"], r1["supersedes"]]
    )
    assert (updates[one]["result_count"], updates[two]["result_count"]) == (1, 2)
    # Imported again: nothing new, the failed line still fails.
    again = await put(client, writer, ndjson(*changed))
    assert summary_of(again) == "0 created, 4 unchanged, 1 failed"


async def test_a_revision_whose_event_another_writer_revised_meanwhile_fails_alone(
    client: httpx.AsyncClient, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    first = [lab("x1", of(patient), 5), lab("x2", of(patient), 6)]
    assert summary_of(await put(client, writer, ndjson(*first))).startswith("2 created")
    stored = await log_rows(pool, tenant)
    raced: list[int] = []
    insert_revisions = revision_batch.insert_revisions

    async def after_another_writer(*args: Any, **kwargs: Any) -> Any:
        # Between the batch's checks and its insert, x1's event is corrected (and committed)
        # through the API: the import's revision of it can no longer be stored.
        if not raced:
            raced.append(await correct(client, writer, event_of(stored, 5)["id"], glucose(66)))
        return await insert_revisions(*args, **kwargs)

    monkeypatch.setattr(revision_batch, "insert_revisions", after_another_writer)
    changed = [lab("x1", of(patient), 50), lab("x2", of(patient), 60)]
    response = await put(client, writer, ndjson(*changed))
    assert summary_of(response) == "0 created, 1 corrected, 0 unchanged, 1 failed"
    [failed] = [i for i in issues(response) if i["severity"] == "error"]
    assert failed["diagnostics"] == "line 1: its event was corrected at the same time; retry"
    assert (failed["code"], failed["expression"]) == ("conflict", ["Observation"])
    after = await log_rows(pool, tenant)
    successors = {r["supersedes"]: r for r in after if r["supersedes"] is not None}
    assert successors[event_of(stored, 5)["id"]]["id"] == raced[0]  # the API's, alone
    assert successors[event_of(stored, 6)["id"]]["payload"]["value"] == 60
    assert len(after) == 4
    # The next import revises the newest version, the API's correction.
    again = await put(client, writer, ndjson(*changed))
    assert summary_of(again) == "0 created, 1 corrected, 1 unchanged, 0 failed"
    newest = [r for r in await log_rows(pool, tenant) if r["supersedes"] == raced[0]]
    assert [r["payload"]["value"] for r in newest] == [50]


async def test_after_a_lost_race_the_next_version_in_the_batch_revises_the_winner(
    client: httpx.AsyncClient, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    assert summary_of(await put(client, writer, ndjson(lab("y1", of(patient), 5)))).startswith(
        "1 created"
    )
    [original] = await log_rows(pool, tenant)
    raced: list[int] = []
    insert_revisions = revision_batch.insert_revisions

    async def after_another_writer(*args: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append(await correct(client, writer, original["id"], glucose(66)))
        return await insert_revisions(*args, **kwargs)

    monkeypatch.setattr(revision_batch, "insert_revisions", after_another_writer)
    # Line 2 (y1 again) stores line 1's staged revision first, which loses to the API's
    # correction; line 2 then revises that correction, the newest, not the original again.
    body = ndjson(lab("y1", of(patient), 50, version="2"), lab("y1", of(patient), 55, version="3"))
    response = await put(client, writer, body)
    assert summary_of(response) == "0 created, 1 corrected, 0 unchanged, 1 failed"
    assert said(response)[1] == "line 2: corrected Observation/y1/_history/2"
    stored = await log_rows(pool, tenant)
    assert [(r["supersedes"], r["payload"]["value"]) for r in stored[1:]] == [
        (original["id"], 66),
        (raced[0], 55),
    ]
