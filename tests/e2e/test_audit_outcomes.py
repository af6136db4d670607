"""One rule for every route's audit outcome (issue 9, item 10): what the client was answered
is what the audit row says. A 404 is `failed` with status 404 whichever route gave it; an
empty answer is a `success` with no results; each request leaves exactly one row."""

from __future__ import annotations

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import audit_rows, bearer, make_token, new_patient, new_tenant, record

pytestmark = pytest.mark.e2e


async def _one_row(pool: Pool, tenant: str, request_id: str) -> dict[str, object]:
    rows = [r for r in await audit_rows(pool, tenant) if r["request_id"] == request_id]
    assert len(rows) == 1, rows
    return rows[0]


async def test_404s_are_failed_404_on_every_route(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    event = await record(client, writer, patient, "triage_note", {"text": "synthetic"})
    labelled = await record(
        client, writer, patient, "condition", {"name": "synthetic"}, labels=["BH"]
    )
    reader = bearer(await make_token(pool, tenant, "events:read", "events:write"))
    for method, path, body in (
        ("GET", f"/patient-events/{new_patient()}", None),
        ("GET", f"/events/{event + 10_000_000}", None),
        ("GET", f"/events/{labelled}", None),  # withheld from this reader: not found
        ("GET", f"/patients/{new_patient()}/context", None),
        ("POST", f"/events/{event + 10_000_000}/retractions", {"reason": "entered in error"}),
    ):
        response = await client.request(method, path, json=body, headers=reader)
        assert response.status_code == 404, (path, response.text)
        row = await _one_row(pool, tenant, response.headers["x-request-id"])
        assert (row["outcome"], row["status"]) == ("failed", 404), (path, row)


async def test_empty_answers_and_found_ones_are_successes(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    event = await record(client, headers, patient, "triage_note", {"text": "synthetic"})
    empty = await client.get(
        f"/patient-events/{patient}", params={"event_type": "lab_result"}, headers=headers
    )
    assert empty.json() == []
    row = await _one_row(pool, tenant, empty.headers["x-request-id"])
    assert (row["outcome"], row["result_count"], row["patient_id"]) == ("success", 0, patient)
    for path in (f"/patient-events/{patient}", f"/events/{event}"):
        found = await client.get(path, headers=headers)
        assert found.status_code == 200
        row = await _one_row(pool, tenant, found.headers["x-request-id"])
        assert (row["outcome"], row["event_ids"]) == ("success", [event])
