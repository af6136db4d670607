"""Full-text search over notes and documents, and code search, under row-level security."""

from __future__ import annotations

import httpx
import pytest

from carelog.domain.audit import AuditContext
from carelog.storage.db import Connection, Pool
from carelog.storage.queries import Queries
from tests.factories import audit_rows, bearer, make_token, new_patient, new_tenant, record

load = Queries("carelog.storage.patient_events")

pytestmark = pytest.mark.e2e


async def test_full_text_and_codes(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, alice, bob = new_tenant(), new_patient(), new_patient()
    headers = bearer(await make_token(pool, tenant))
    pain = await record(
        client,
        headers,
        alice,
        "triage_note",
        {"text": "Crushing chest pain radiating to the left arm", "severity": "high"},
    )
    doc = await record(
        client,
        headers,
        bob,
        "document",
        {"title": "ED note", "text": "Chest pains resolved after nitroglycerin"},
    )
    await record(client, headers, bob, "triage_note", {"text": "Mild headache"})
    a1c = await record(
        client, headers, alice, "lab_result", {"loinc": "4548-4", "test": "HbA1c", "value": 8.4}
    )
    b1c = await record(
        client, headers, bob, "lab_result", {"loinc": "4548-4", "test": "HbA1c", "value": 6.1}
    )
    await record(client, headers, bob, "lab_result", {"loinc": "2345-7", "test": "Glucose"})
    other = bearer(await make_token(pool, new_tenant()))
    await record(client, other, alice, "triage_note", {"text": "chest pain elsewhere"})

    found = (await client.get("/search", params={"q": "chest pain"}, headers=headers)).json()
    assert [e["id"] for e in found] == [doc, pain]  # stemmed: "pains"; newest first
    mine = await client.get("/search", params={"q": "chest", "patient_id": alice}, headers=headers)
    assert [e["id"] for e in mine.json()] == [pain]
    coded = (await client.get("/search", params={"code": "loinc:4548-4"}, headers=headers)).json()
    assert [e["id"] for e in coded] == [b1c, a1c]
    both = await client.get(
        "/search", params={"code": "loinc:4548-4", "patient_id": bob}, headers=headers
    )
    assert [e["id"] for e in both.json()] == [b1c]
    paged = await client.get(
        "/search", params={"code": "loinc:4548-4", "limit": 1}, headers=headers
    )
    assert 'rel="next"' in paged.headers["link"]

    # A corrected result is found in its current version only.
    fixed = await client.post(
        f"/events/{a1c}/corrections",
        json={"payload": {"loinc": "4548-4", "test": "HbA1c", "value": 7.4}, "reason": "typo"},
        headers=headers,
    )
    coded = (await client.get("/search", params={"code": "loinc:4548-4"}, headers=headers)).json()
    # The correction keeps the clinical time of the result it corrects.
    assert [e["id"] for e in coded] == [b1c, fixed.json()["id"]]
    rows = [r for r in await audit_rows(pool, tenant) if r["route"] == "/search"]
    assert {r["action"] for r in rows} == {"search"}


async def test_search_respects_labels_and_limits(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    await record(client, writer, patient, "triage_note", {"text": "relapse risk"}, labels=["ETH"])
    reader = bearer(await make_token(pool, tenant, "events:read"))
    assert (await client.get("/search", params={"q": "relapse"}, headers=reader)).json() == []
    for params in [
        {},
        {"code": "cpt:99213"},
        {"code": "loinc"},
        {"q": ""},
        {"q": "x" * 201},
        {"q": "a", "cursor": "bad"},
        {"q": "a", "patient_id": "../x"},
    ]:
        response = await client.get("/search", params=params, headers=reader)
        assert response.status_code == 422, params


async def test_search_reads_a_btree_range_under_row_level_security(dba: Connection) -> None:
    """Search runs as carelog_app under the tenant policy, where only leakproof operators can
    be index conditions: the text match (@@) and the code's containment (@>) are not, so
    they filter the rows of one B-tree range, the patient's when a patient is named (the
    by-type index, by the searched types), the tenant's otherwise, and never a sequential
    scan. The log keeps no GIN index for them to pay for on every write (migration 0025)."""
    tenant = "t-plan-search"
    await dba.execute(
        "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
        " recorded_by) SELECT %(t)s, 'P-' || (g %% 300), 'triage_note',"
        " jsonb_build_object('text', CASE WHEN g %% 2000 = 0 THEN 'crushing chest pain'"
        " ELSE 'routine follow-up visit ' || g END), now() - make_interval(mins => g), 'test'"
        " FROM generate_series(1, 20000) AS g",
        {"t": tenant},
    )
    await dba.execute(
        "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
        " recorded_by) SELECT %(t)s, 'P-' || (g %% 300), 'lab_result',"
        " jsonb_build_object('loinc', CASE WHEN g %% 2000 = 0 THEN '4548-4' ELSE"
        " (1000 + g %% 500)::text || '-1' END, 'value', g), now() - make_interval(mins => g),"
        " 'test' FROM generate_series(1, 20000) AS g",
        {"t": tenant},
    )
    await dba.execute("ANALYZE patient_events")
    cur = await dba.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'patient_events'"
        " AND indexdef LIKE '%% USING gin %%'"
    )
    assert await cur.fetchall() == []
    await dba.execute("SET ROLE carelog_app")
    await dba.execute("SELECT set_config('carelog.tenant_id', %s, false)", (tenant,))
    await dba.execute("SET enable_seqscan = off")
    base = {
        "tenant_id": tenant,
        "patients": None,
        "visible_labels": None,
        "after_at": None,
        "after_id": None,
        "limit": 21,
        "page_size": 20,
        **AuditContext(request_id="plan", client_address=None).params(),
    }
    for search, matched in [
        ({"query": "chest pain", "contains": None}, "@@"),
        ({"query": None, "contains": '{"loinc": "4548-4"}'}, "@>"),
    ]:
        for patient in ("P-7", None):
            cur = await dba.execute(
                b"EXPLAIN " + load("search_events"), {**base, **search, "patient_id": patient}
            )
            plan = "\n".join(r[0] for r in await cur.fetchall())
            assert "Seq Scan" not in plan, plan
            conditions = [line for line in plan.splitlines() if "Index Cond" in line]
            assert any(f"tenant_id = '{tenant}'" in line for line in conditions), plan
            assert not any(matched in line for line in conditions), plan
            assert any(matched in line for line in plan.splitlines() if "Filter:" in line), plan
            if patient is not None:
                assert "patient_events_by_type" in plan, plan
                assert any("patient_id = 'P-7'" in line for line in conditions), plan
