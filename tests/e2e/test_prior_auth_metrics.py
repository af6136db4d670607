"""The CMS-0057-F metrics over a hand-made set of cases, each answer worked out by hand
below, and what a second tenant and a patient-limited key see of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from carelog.storage.db import Pool
from tests.e2e.test_prior_auth import AUTH, BASE, _act, _open, _payer, _ready
from tests.e2e.workflow_kit import START, Clock, Team, new_team
from tests.factories import audit_rows, make_key, new_patient

pytestmark = pytest.mark.e2e

CERTIFIED = {"decisions": [{"sequence": 1, "action": "certified"}], "authorization": AUTH}
DENIED = {"decisions": [{"sequence": 1, "action": "not_certified", "reason": "not covered"}]}
PARTIAL = {
    "decisions": [{"sequence": 1, "action": "partial", "reason": "fewer", "approved_quantity": 1}],
    "authorization": AUTH,
}
PENDED = {"decisions": [{"sequence": 1, "action": "pended", "reason": "need the order form"}]}
LINE = {"code": "70551", "description": "MRI", "quantity": 2, "service_from": "2026-03-10"}

# Each case: its urgency, payer, and its steps at hours after START (the clock moves to
# each step in time order, across the cases).
PLAN: dict[str, tuple[str, str, list[tuple[float, str, dict[str, Any]]]]] = {
    # Standard, acme:
    # S1 approved after 2 days (48 h): on time (due 7 days).
    "S1": ("standard", "acme", [(0, "submit", {}), (48, "respond", CERTIFIED)]),
    # S2 extended by 5 days (due 12 days), approved at 10 days: approved after extension.
    "S2": ("standard", "acme", [(0, "submit", {}), (24, "extend", {"days": 5, "reason": "r"}),
                                (240, "respond", CERTIFIED)]),
    # S3 denied at 8 days: late (due 7 days); appealed at 9 days, overturned at 11 days
    # (appeal due 9 + 30 days): approved after appeal.
    "S3": ("standard", "acme", [(0, "submit", {}), (192, "respond", DENIED),
                                (216, "appeal", {"reason": "new notes"}),
                                (264, "respond", CERTIFIED)]),
    # S4 partially approved after 1 day.
    "S4": ("standard", "acme", [(0, "submit", {}), (24, "respond", PARTIAL)]),
    # Expedited, acme:
    # E1 pended at 24 h, resubmitted at 48 h (due 48 + 72 = 120 h), approved at 128 h:
    # late; its wait counts from the first submission: 128 h.
    "E1": ("expedited", "acme", [(0, "submit", {}), (24, "respond", PENDED),
                                 (48, "submit", {}), (128, "respond", CERTIFIED)]),
    # E2 denied after 1 hour.
    "E2": ("expedited", "acme", [(0, "submit", {}), (1, "respond", DENIED)]),
    # Another payer's case (left out with payer=acme) and a case still under review.
    "X1": ("standard", "other", [(0, "submit", {}), (2, "respond", CERTIFIED)]),
    "U1": ("standard", "acme", [(0, "submit", {})]),
}  # fmt: skip
HOUR = 3600
STANDARD = {
    "requests": 4,
    "approved": 2, "approved_percent": 50.0,
    "partially_approved": 1, "partially_approved_percent": 25.0,
    "denied": 1, "denied_percent": 25.0,
    "approved_after_appeal": 1, "approved_after_appeal_percent": 25.0,
    "approved_after_extension": 1, "approved_after_extension_percent": 25.0,
    # waits 48, 240, 192, 24 h: mean 504 / 4 = 126 h; median (48 + 192) / 2 = 120 h
    "decision_time": {"average_seconds": 126.0 * HOUR, "median_seconds": 120.0 * HOUR},
    "decisions_after_due": 1,
}  # fmt: skip
EXPEDITED = {
    "requests": 2,
    "approved": 1, "approved_percent": 50.0,
    "partially_approved": 0, "partially_approved_percent": 0.0,
    "denied": 1, "denied_percent": 50.0,
    "approved_after_appeal": 0, "approved_after_appeal_percent": 0.0,
    "approved_after_extension": 0, "approved_after_extension_percent": 0.0,
    # waits 128 and 1 h: mean and median 64.5 h
    "decision_time": {"average_seconds": 64.5 * HOUR, "median_seconds": 64.5 * HOUR},
    "decisions_after_due": 1,
}  # fmt: skip


async def _run_plan(client: httpx.AsyncClient, team: Team, clock: Clock) -> dict[str, str]:
    """Open every case of PLAN, then take their steps in time order; case ids by name."""
    await _payer(client, team)
    await _payer(client, team, "other", name="Other Plan")
    ids: dict[str, str] = {}
    steps: list[tuple[float, str, Callable[[], Awaitable[httpx.Response]]]] = []
    for name, (urgency, payer, plan) in PLAN.items():
        patient = new_patient()
        case = await _open(client, team, patient, urgency=urgency, payer={"id": payer},
                           lines=[LINE])  # fmt: skip
        await _ready(client, team, patient, case)
        ids[name] = case["id"]
        for hours, action, body in plan:
            steps.append((hours, name, _step(client, team, case["id"], action, body)))
    for hours, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
        clock.now = START + timedelta(hours=hours)
        response = await step()
        assert response.status_code == 200, response.text
    return ids


def _step(
    client: httpx.AsyncClient, team: Team, case: str, action: str, body: dict[str, Any]
) -> Callable[[], Awaitable[httpx.Response]]:
    async def run() -> httpx.Response:
        return await _act(client, team, case, action, **body)

    return run


async def test_the_metrics_of_a_hand_made_set(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    await _run_plan(client, team, clock)
    window = {"since": "2026-03-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"}
    response = await client.get(
        f"{BASE}/metrics", params=window | {"payer": "acme"}, headers=team.clinician
    )
    assert response.status_code == 200, response.text
    figures = response.json()
    assert figures["standard"] == STANDARD
    assert figures["expedited"] == EXPEDITED
    assert (figures["since"], figures["payer"]) == ("2026-03-01T00:00:00Z", "acme")

    # Every payer: X1 is one more standard approval, on time, after 2 hours.
    every = (await client.get(f"{BASE}/metrics", params=window, headers=team.clinician)).json()
    assert every["standard"]["requests"] == 5
    assert every["standard"]["approved"] == 3
    # A window that ends at 9 days leaves S2 (decided at 10 days) out, and S3's appeal
    # (overturned at 11 days) is not counted yet.
    early = window | {"until": (START + timedelta(hours=216)).isoformat(), "payer": "acme"}
    cut = (await client.get(f"{BASE}/metrics", params=early, headers=team.clinician)).json()
    assert cut["standard"]["requests"] == 3
    assert cut["standard"]["approved_after_appeal"] == 0

    # The read is audited as a search naming the decision events it counted.
    rows = [r for r in await audit_rows(pool, team.tenant) if r["route"] == f"{BASE}/metrics"]
    assert rows[0]["action"] == "search"
    assert len(rows[0]["event_ids"]) == 9  # every respond in the window (pended too), all payers


async def test_metrics_are_the_callers_tenants_and_patients_only(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    await _run_plan(client, team, clock)
    other = await new_team(pool)
    seen = (await client.get(f"{BASE}/metrics", headers=other.clinician)).json()
    assert seen["standard"]["requests"] == seen["expedited"]["requests"] == 0
    assert seen["standard"]["approved_percent"] is None
    limited = await make_key(
        pool, team.tenant, "workflows:read", patients=frozenset({new_patient()})
    )
    mine = (await client.get(f"{BASE}/metrics", headers=limited)).json()
    assert mine["standard"]["requests"] == 0
    backwards = {"since": "2026-04-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"}
    bad = await client.get(f"{BASE}/metrics", params=backwards, headers=team.clinician)
    assert (bad.status_code, bad.json()["errors"][0]["type"]) == (422, "range_order")
