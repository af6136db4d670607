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
