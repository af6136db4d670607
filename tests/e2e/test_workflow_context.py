"""The context's open items: every open escalation and care task of the patient with its due
time and overdue flag, citing its case; gone once closed, back with as_of; ranked just below
allergies under a budget; hidden with its labels."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from carelog.domain.principals import PrincipalKind
from carelog.storage.db import Pool
from tests.e2e.workflow_kit import READ_WRITE, Clock, new_team
from tests.factories import audit_rows, make_key, new_patient

pytestmark = pytest.mark.e2e


def _items(context: dict[str, Any]) -> list[dict[str, Any]]:
    [section] = [s for s in context["sections"] if s["name"] == "open_items"]
    lines: list[dict[str, Any]] = section["lines"]
    return lines


async def test_open_items_in_the_context(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    patient = new_patient()
    allergy = {"substance": "penicillin", "reaction": "rash"}
    for event_type, payload in [("allergy", allergy), ("condition", {"name": "asthma"})]:
        body = {"patient_id": patient, "event_type": event_type, "payload": payload}
        assert (await client.post("/patient-events", json=body, headers=team.agent)).is_success
    escalation = await client.post(
        "/escalations",
        json={"patient_id": patient, "severity": "emergent", "reason": "wheezing, SpO2 89%"},
        headers=team.agent,
    )
    task = await client.post(
        "/care-tasks",
        json={"patient_id": patient, "description": "inhaler teaching", "assignee": "rn"},
        headers=team.agent,
    )
    other = await client.post(
        "/escalations",
        json={"patient_id": new_patient(), "severity": "routine", "reason": "someone else"},
        headers=team.agent,
    )
    assert other.status_code == 201
    esc, care = escalation.json(), task.json()
    url = f"/patients/{patient}/context"

    clock.advance(minutes=20)  # the emergent escalation's 15 minutes are up
    context = (await client.get(url, headers=team.clinician)).json()
    names = [s["name"] for s in context["sections"]]
    assert names[:3] == ["allergies", "open_items", "conditions"]
    lines = _items(context)
    assert len(lines) == 2
    [esc_line] = [x for x in lines if esc["id"] in x["text"]]
    assert esc_line["text"].startswith("Escalation open, due 2026-03-02T09:15:00+00:00, OVERDUE")
    assert "wheezing" in esc_line["text"]
    read = (await client.get(f"/escalations/{esc['id']}", headers=team.clinician)).json()
    assert esc_line["cites"] == [read["timeline"][-1]["event_id"]]
    [care_line] = [x for x in lines if care["id"] in x["text"]]
    assert "OVERDUE" not in care_line["text"]
    assert "inhaler teaching" in care_line["text"]
    # The context's audit row cites the cases' newest transitions with the other events.
    rows = [
        r
        for r in await audit_rows(pool, team.tenant)
        if r["route"] == "/patients/{patient_id}/context"
    ]
    assert esc_line["cites"][0] in rows[-1]["event_ids"]

    before_resolving = datetime.now(UTC)
    await asyncio.sleep(0.01)
    resolved = await client.post(
        f"/escalations/{esc['id']}/actions",
        json={"action": "resolve", "outcome": "nebuliser, improved"},
        headers=team.clinician,
    )
    assert resolved.status_code == 200
    now = (await client.get(url, headers=team.clinician)).json()
    assert [esc["id"] in x["text"] for x in _items(now)] == [False]
    # As the record stood before it was resolved, it was open (and overdue).
    then = await client.get(
        url, params={"as_of": before_resolving.isoformat()}, headers=team.clinician
    )
    [was] = [x for x in _items(then.json()) if esc["id"] in x["text"]]
    assert "OVERDUE" in was["text"]  # its due time had passed by then
    # A budget drops conditions before the open items.
    budget = context["estimated_tokens"]
    while budget > 50:
        cut = (await client.get(url, params={"max_tokens": budget}, headers=team.clinician)).json()
        if "conditions" in cut["omitted"]:
            break
        budget -= 2
    assert "conditions" in cut["omitted"]
    assert "open_items" not in cut["omitted"]
    # A narrowed context (types=) leaves them out; markdown shows them.
    labs = (await client.get(url, params={"types": "lab_result"}, headers=team.clinician)).json()
    assert _items(labs) == []
    markdown = (await client.get(url, params={"format": "markdown"}, headers=team.clinician)).text
    assert "## Open items" in markdown
    assert care["id"] in markdown


async def test_a_labelled_case_is_withheld_from_the_context(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    patient = new_patient()
    wide = await make_key(pool, team.tenant, *READ_WRITE, "sensitive:BH", kind=PrincipalKind.USER)
    note = await client.post(
        "/patient-events",
        json={"patient_id": patient, "event_type": "note", "payload": {"t": "x"}, "labels": ["BH"]},
        headers=wide,
    )
    opened = await client.post(
        "/care-tasks",
        json={
            "patient_id": patient, "description": "follow up", "assignee": "psych",
            "link_events": [note.json()["id"]],
        },
        headers=wide,
    )  # fmt: skip
    assert opened.json()["labels"] == ["BH"]
    url = f"/patients/{patient}/context"
    seen = (await client.get(url, headers=wide)).json()
    assert len(_items(seen)) == 1
    hidden = await client.get(url, headers=team.clinician)
    assert hidden.status_code == 404 or _items(hidden.json()) == []
