"""Repeat context reads come from the per-process cache only while the patient is unchanged:
every write path moves the patient's version, a cached context is the context a fresh build
gives, tenants, labels and budgets stay apart, and every cached read is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from psycopg import AsyncConnection

from carelog.domain.principals import ApiKeyCreate
from carelog.services.auth.keys import issue_key
from carelog.services.context.cache import ContextCache
from carelog.storage.db import Pool
from tests.factories import audit_rows, bearer, make_token, new_patient, new_tenant, record

pytestmark = pytest.mark.e2e


def _cache(app: FastAPI) -> ContextCache:
    cache: ContextCache = app.state.runtime.context_cache
    return cache


async def _read(
    client: httpx.AsyncClient, headers: dict[str, str], patient: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(f"/patients/{patient}/context", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _lines(context: dict[str, Any], section: str) -> list[str]:
    return [
        line["text"] for s in context["sections"] if s["name"] == section for line in s["lines"]
    ]


def _without_time(context: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in context.items() if k != "as_of"}


async def test_a_repeat_read_is_a_hit_and_equals_a_fresh_build(
    client: httpx.AsyncClient, pool: Pool, app: FastAPI
) -> None:
    cache = _cache(app)
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    await record(client, headers, patient, "allergy", {"substance": "penicillin"})
    await record(client, headers, patient, "lab_result", {"test": "HbA1c", "value": 8.4})
    hits, misses = cache.hits, cache.misses

    first = await _read(client, headers, patient)
    assert (cache.hits, cache.misses) == (hits, misses + 1)
    second = await _read(client, headers, patient)
    assert (cache.hits, cache.misses) == (hits + 1, misses + 1)
    # Pinned to the time of each read, otherwise the same context...
    assert second["as_of"] > first["as_of"]
    assert _without_time(second) == _without_time(first)
    # ...and the same as a build for that very time (as_of reads never use the cache).
    fresh = await _read(client, headers, patient, as_of=second["as_of"])
    assert fresh == second
    assert cache.hits == hits + 1

    markdown = await client.get(f"/patients/{patient}/context?format=markdown", headers=headers)
    assert "penicillin" in markdown.text
    assert cache.hits == hits + 2

    # Every read is audited, hits included, naming what the context cited.
    reads = [
        r for r in await audit_rows(pool, tenant) if r["route"] == "/patients/{patient_id}/context"
    ]
    assert len(reads) == 4
    assert len({tuple(r["event_ids"]) for r in reads}) == 1
    assert len(reads[0]["event_ids"]) == 2


async def test_every_write_path_moves_the_version(
    client: httpx.AsyncClient, pool: Pool, app: FastAPI, dba: AsyncConnection[Any]
) -> None:
    cache = _cache(app)
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    lab = await record(client, headers, patient, "lab_result", {"test": "K", "value": 5.9})
    await _read(client, headers, patient)
    assert "K: 5.9" in _lines(await _read(client, headers, patient), "labs")[0]

    allergy = await record(client, headers, patient, "allergy", {"substance": "latex"})
    misses = cache.misses
    assert _lines(await _read(client, headers, patient), "allergies") == ["latex"]
    assert cache.misses == misses + 1

    fixed = await client.post(
        f"/events/{lab}/corrections",
        json={"payload": {"test": "K", "value": 4.1}, "reason": "haemolysed"},
        headers=headers,
    )
    assert fixed.status_code == 200
    assert "K: 4.1" in _lines(await _read(client, headers, patient), "labs")[0]

    retracted = await client.post(
        f"/events/{fixed.json()['id']}/retractions",
        json={"reason": "wrong patient"},
        headers=headers,
    )
    assert retracted.status_code == 200
    assert _lines(await _read(client, headers, patient), "labs") == []

    # A write that bypasses the API (an operator's bulk load) moves the version too.
    await dba.execute(
        "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
        " recorded_by) VALUES (%s, %s, 'condition', '{\"name\": \"asthma\"}', now(), 'ops')",
        (tenant, patient),
    )
    misses = cache.misses
    assert _lines(await _read(client, headers, patient), "conditions") == ["asthma"]
    assert cache.misses == misses + 1
    # One audit row per read: a stale entry's conditional audit row was never written.
    reads = [
        r for r in await audit_rows(pool, tenant) if r["route"] == "/patients/{patient_id}/context"
    ]
    assert len(reads) == 6
    assert reads[-2]["event_ids"] == [allergy]  # after the retraction: the lab is gone


async def test_tenants_labels_and_budgets_stay_apart(
    client: httpx.AsyncClient, pool: Pool, app: FastAPI
) -> None:
    patient = new_patient()
    first, second = new_tenant(), new_tenant()
    writer = bearer(await make_token(pool, first, "events:read", "events:write", "sensitive:BH"))
    await record(client, writer, patient, "condition", {"name": "depression"}, labels=["BH"])
    await record(client, writer, patient, "condition", {"name": "asthma"})
    everything = await _read(client, writer, patient)
    assert sorted(_lines(everything, "conditions")) == ["asthma", "depression"]

    # The same patient id in another tenant: its own record, never the cached one.
    other = bearer(await make_token(pool, second))
    assert (await client.get(f"/patients/{patient}/context", headers=other)).status_code == 404
    await record(client, other, patient, "condition", {"name": "gout"})
    assert _lines(await _read(client, other, patient), "conditions") == ["gout"]

    # A reader without the BH permission, after one with it: withheld, and counted.
    reader = bearer(await make_token(pool, first, "events:read"))
    plain = await _read(client, reader, patient)
    assert _lines(plain, "conditions") == ["asthma"]
    assert plain["withheld"] == 1
    assert sorted(_lines(await _read(client, writer, patient), "conditions")) == [
        "asthma",
        "depression",
    ]

    # A budget is part of what is cached, not an afterthought of the first reader's budget.
    small = await _read(client, writer, patient, max_tokens=50)
    assert small["omitted"]
    assert not (await _read(client, writer, patient))["omitted"]

    # A key limited to other patients cannot read it, cached or not.
    limited = await make_token_for(pool, first, other_patient=new_patient())
    assert (await client.get(f"/patients/{patient}/context", headers=limited)).status_code == 404


async def make_token_for(pool: Pool, tenant: str, *, other_patient: str) -> dict[str, str]:
    """A read key limited to ``other_patient``."""
    issued = await issue_key(
        pool,
        ApiKeyCreate(
            tenant_id=tenant,
            scopes=frozenset({"events:read"}),
            name="limited",
            patients=frozenset({other_patient}),
        ),
    )
    return bearer(issued.token)


async def test_time_travel_reads_are_never_cached(
    client: httpx.AsyncClient, pool: Pool, app: FastAPI
) -> None:
    cache = _cache(app)
    tenant, patient = new_tenant(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    await record(client, headers, patient, "allergy", {"substance": "latex"})
    before = datetime.now(UTC)
    await record(client, headers, patient, "allergy", {"substance": "peanut"})
    await _read(client, headers, patient)
    hits, misses = cache.hits, cache.misses
    past = await _read(client, headers, patient, as_of=before.isoformat())
    assert _lines(past, "allergies") == ["latex"]
    assert (cache.hits, cache.misses) == (hits, misses)
    assert sorted(_lines(await _read(client, headers, patient), "allergies")) == [
        "latex",
        "peanut",
    ]
    assert cache.hits == hits + 1
