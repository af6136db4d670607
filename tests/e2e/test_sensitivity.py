"""Sensitivity labels: withheld from principals without the permission, counted in a header,
404 on single reads; break-the-glass shows them for one request and flags its audit row."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import audit_rows, bearer, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

WITHHELD = "carelog-withheld-count"
ALL_SENSITIVE = tuple(f"sensitive:{label}" for label in ("BH", "ETH", "HIV", "STD", "GDIS", "SEX"))


async def _seed(client: httpx.AsyncClient, pool: Pool) -> tuple[str, str, dict[str, int]]:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant, "events:write"))
    ids = {}
    for name, labels in [("plain", []), ("sud", ["ETH"]), ("psych", ["BH"])]:
        body: dict[str, Any] = {
            "patient_id": patient,
            "event_type": "note",
            "payload": {"kind": name},
            "labels": labels,
        }
        response = await client.post("/patient-events", json=body, headers=writer)
        assert response.status_code == 200, response.text
        assert response.json()["labels"] == labels
        ids[name] = response.json()["id"]
    return tenant, patient, ids


async def test_labelled_events_are_withheld_and_counted(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient, ids = await _seed(client, pool)
    reader = bearer(await make_token(pool, tenant, "events:read"))
    listed = await client.get(f"/patient-events/{patient}", headers=reader)
    assert [r["id"] for r in listed.json()] == [ids["plain"]]
    assert listed.headers[WITHHELD] == "2"
    for name in ("sud", "psych"):
        assert (await client.get(f"/events/{ids[name]}", headers=reader)).status_code == 404
    assert (await client.get(f"/events/{ids['plain']}", headers=reader)).status_code == 200

    sud_reader = bearer(await make_token(pool, tenant, "events:read", "sensitive:ETH"))
    listed = await client.get(f"/patient-events/{patient}", headers=sud_reader)
    assert sorted(r["id"] for r in listed.json()) == sorted([ids["plain"], ids["sud"]])
    assert listed.headers[WITHHELD] == "1"

    everything = bearer(await make_token(pool, tenant, "events:read", *ALL_SENSITIVE))
    listed = await client.get(f"/patient-events/{patient}", headers=everything)
    assert len(listed.json()) == 3
    assert WITHHELD not in listed.headers


async def test_a_patient_with_only_withheld_events_is_not_a_404(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant, "events:write"))
    body = {"patient_id": patient, "event_type": "note", "payload": {}, "labels": ["HIV"]}
    assert (await client.post("/patient-events", json=body, headers=writer)).is_success
    reader = bearer(await make_token(pool, tenant, "events:read"))
    listed = await client.get(f"/patient-events/{patient}", headers=reader)
    assert listed.status_code == 200
    assert listed.json() == []
    assert listed.headers[WITHHELD] == "1"


async def test_break_the_glass(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, patient, ids = await _seed(client, pool)
    reason = "unconscious patient in the ED, treating clinician"
    emergency = bearer(await make_token(pool, tenant, "events:read", "break-glass"))
    broken = await client.get(
        f"/patient-events/{patient}", headers={**emergency, "X-Break-Glass-Reason": reason}
    )
    assert len(broken.json()) == 3
    single = await client.get(
        f"/events/{ids['sud']}", headers={**emergency, "X-Break-Glass-Reason": reason}
    )
    assert single.status_code == 200
    # Without the header the same principal sees what anyone without labels sees.
    assert len((await client.get(f"/patient-events/{patient}", headers=emergency)).json()) == 1

    ordinary = bearer(await make_token(pool, tenant, "events:read"))
    denied = await client.get(
        f"/patient-events/{patient}", headers={**ordinary, "X-Break-Glass-Reason": reason}
    )
    assert denied.status_code == 403
    too_short = await client.get(
        f"/patient-events/{patient}", headers={**emergency, "X-Break-Glass-Reason": "x"}
    )
    assert too_short.status_code == 422

    rows = await audit_rows(pool, tenant)
    flagged = [r for r in rows if r["break_glass"]]
    assert [(r["action"], r["break_glass_reason"]) for r in flagged] == [
        ("search", reason),
        ("read", reason),
    ]
    auditor = bearer(await make_token(pool, tenant, "audit:read"))
    review = (await client.get("/audit-events?break_glass=true", headers=auditor)).json()
    assert {r["action"] for r in review} == {"search", "read"}
    assert all(r["break_glass"] for r in review)


async def test_unknown_labels_are_422(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    writer = bearer(await make_token(pool, tenant))
    body = {"patient_id": new_patient(), "event_type": "note", "payload": {}, "labels": ["SECRET"]}
    response = await client.post("/patient-events", json=body, headers=writer)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("labels")
