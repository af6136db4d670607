"""Synthetic patients go in through the API as a user's agent would send them, and come back
as context a clinician would recognise (issue 13, synthetic data): every record accepted,
corrections and retractions applied, the BH label honoured."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from carelog.storage.db import Pool
from carelog.synthetic.load import load
from carelog.synthetic.population import DEFAULT_END, Patient
from tests.factories import bearer, count_events, make_token, new_tenant

pytestmark = pytest.mark.e2e


def _first(predicate: Any) -> Patient:
    for number in range(1, 500):
        patient = Patient(21, number, end=DEFAULT_END, years=2)
        if predicate(patient):
            return patient
    raise AssertionError("no such patient in the first 500")


async def test_a_synthetic_patient_loads_and_reads_back_as_context(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    writer = bearer(await make_token(pool, tenant, "events:read", "events:write"))
    diabetic = _first(
        lambda p: (
            "diabetes" in p.problems
            and "depression" in p.problems
            and any("corrects" in r for r in p.records())
        )
    )
    client.headers.update(writer)
    report = await load(client, diabetic.records())
    assert report.patients == 1
    assert report.counts["correction"] >= 1
    stored = await count_events(pool, tenant)
    again = await load(client, diabetic.records())  # loading twice doubles nothing
    assert await count_events(pool, tenant) == stored
    assert again.counts["event"] == 0
    assert again.counts["event already there"] == report.counts["event"]
    assert again.counts["correction already made"] == report.counts["correction"]
    del client.headers["Authorization"]

    reader = bearer(await make_token(pool, tenant, "events:read"))
    response = await client.get(f"/patients/{diabetic.id}/context", headers=reader)
    assert response.status_code == 200, response.text
    sections = {
        s["name"]: [line["text"] for line in s["lines"]] for s in response.json()["sections"]
    }
    conditions = " ".join(sections["conditions"])
    assert "Type 2 diabetes" in conditions
    assert "depressive" not in response.text  # BH: withheld from a reader without it
    assert response.json()["withheld"] > 0
    assert any("metformin" in line or "empagliflozin" in line for line in sections["medications"])
    assert any("Hemoglobin A1c" in line for line in sections["labs"])
    # The mistyped values (a decimal point slipped: 84 % for 8.4 %) were corrected.
    shown = [
        float(value)
        for line in sections["labs"]
        for value in re.findall(r"([0-9.]+) %", line)
        if line.startswith("Hemoglobin A1c")
    ]
    assert shown
    assert all(4 < value < 16 for value in shown), shown

    everything = bearer(await make_token(pool, tenant, "events:read", "sensitive:BH"))
    full = await client.get(f"/patients/{diabetic.id}/context", headers=everything)
    assert "Major depressive disorder" in full.text
