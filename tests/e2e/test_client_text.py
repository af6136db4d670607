"""One rule for every string a client sends (issue 9, item 1): a NUL or a lone surrogate in
any text field is a 422 naming the field, never a 500, and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import bearer, make_token, new_patient, new_tenant, record

pytestmark = pytest.mark.e2e

BAD = ["bad\x00text", "\x00", "lone \ud800 surrogate"]


def _json(body: Mapping[str, Any]) -> bytes:
    # Written by hand: httpx would refuse to encode a lone surrogate.
    return json.dumps(body).encode()


@pytest.mark.parametrize("text", BAD)
async def test_reasons_of_corrections_and_retractions(
    client: httpx.AsyncClient, pool: Pool, text: str
) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = {**bearer(await make_token(pool, tenant)), "Content-Type": "application/json"}
    event = await record(client, headers, patient, "triage_note", {"text": "synthetic"})
    for path, body in (
        (f"/events/{event}/corrections", {"payload": {"text": "x"}, "reason": text}),
        (f"/events/{event}/retractions", {"reason": text}),
    ):
        response = await client.post(path, content=_json(body), headers=headers)
        problem = response.json()
        if "\ud800" in text:  # not Unicode: the JSON parser refuses the body as a whole
            assert (response.status_code, problem["code"]) == (400, "bad-request")
            continue
        assert response.status_code == 422, (path, response.text)
        assert problem["code"] == "validation-failed"
        assert [e["field"] for e in problem["errors"]] == ["reason"]
    listed = await client.get(
        f"/patient-events/{patient}", params={"include": "history"}, headers=headers
    )
    assert [e["id"] for e in listed.json()] == [event]  # nothing was written


@pytest.mark.parametrize("text", BAD[:2])  # (a lone surrogate cannot be URL-encoded)
async def test_search_words_and_audit_filters(
    client: httpx.AsyncClient, pool: Pool, text: str
) -> None:
    tenant = new_tenant()
    headers = bearer(await make_token(pool, tenant, "events:read", "audit:read"))
    for path, name in (("/search", "q"), ("/audit-events", "principal_id")):
        response = await client.get(path, params={name: text}, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["code"] == "validation-failed"
        assert [e["field"] for e in response.json()["errors"]] == [name]


# Issue 9, item 2: input that used to be accepted as something else.


async def test_times_are_rfc3339_text_never_numbers(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant, "events:read", "events:write", "audit:read"))
    await record(client, headers, patient, "triage_note", {"text": "synthetic"})
    for path in (f"/patient-events/{patient}", f"/patients/{patient}/context", "/audit-events"):
        for name in ("since", "until"):
            for value in ("0.5", "0", "1767225600", "2026-01-05"):
                response = await client.get(path, params={name: value}, headers=headers)
                assert response.status_code == 422, (path, name, value, response.text)
                assert [e["field"] for e in response.json()["errors"]] == [name]
        ok = await client.get(path, params={"since": "2026-01-05T08:00:00Z"}, headers=headers)
        assert ok.status_code == 200, (path, ok.text)
    numbers: tuple[float | bool, ...] = (0, 1767225600, 0.5, True)
    for number in numbers:
        body = {
            "patient_id": patient,
            "event_type": "triage_note",
            "payload": {"text": "x"},
            "occurred_at": number,
        }
        response = await client.post("/patient-events", json=body, headers=headers)
        assert response.status_code == 422, (number, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["occurred_at"]
    listed = await client.get(f"/patient-events/{patient}", headers=headers)
    assert len(listed.json()) == 1  # nothing else was written


async def test_repeated_labels_keys_and_loose_booleans_are_refused(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant, "events:read", "events:write", "admin"))
    body = {"patient_id": patient, "event_type": "triage_note", "payload": {"text": "x"}}
    repeated = await client.post(
        "/patient-events", json={**body, "labels": ["BH", "BH"]}, headers=headers
    )
    assert repeated.status_code == 422, repeated.text
    assert [e["field"] for e in repeated.json()["errors"]] == ["labels"]
    for raw in (
        b'{"patient_id": "%s", "patient_id": "P-other", "event_type": "triage_note",'
        b' "payload": {}}' % patient.encode(),
        b'{"patient_id": "%s", "event_type": "triage_note",'
        b' "payload": {"text": "a", "text": "b"}}' % patient.encode(),
    ):
        response = await client.post(
            "/patient-events",
            content=raw,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "bad-request"
        assert b"P-other" not in response.content
    assert (await client.get(f"/patient-events/{patient}", headers=headers)).status_code == 404
    for value in (0, 1, "true", "yes", None):
        policy = await client.put(
            "/event-type-policy", json={"reject_unregistered": value}, headers=headers
        )
        assert policy.status_code == 422, (value, policy.text)
    fine = await client.put(
        "/event-type-policy", json={"reject_unregistered": False}, headers=headers
    )
    assert fine.status_code == 200, fine.text
