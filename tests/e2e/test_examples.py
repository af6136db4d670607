"""The three example agents (examples/) against the service over HTTP with the SDK, rule-based
(no model configured): what each recorded, and its audit rows."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carelog.api.app import create_app
from carelog.client import Client
from carelog.settings import Settings
from carelog.storage.db import Pool
from tests.e2e.live_server import serve
from tests.e2e.workflow_kit import case_rows
from tests.factories import audit_rows, make_token, new_patient, new_tenant

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import care_coordination
import intake
import prior_auth

pytestmark = pytest.mark.e2e
SCOPES = ("events:read", "events:write", "workflows:read", "workflows:write")


@pytest.fixture(scope="module")
def url(settings: Settings) -> Iterator[str]:
    off = {"rate_limit_per_second": 0, "access_log": False}
    with serve(create_app(settings.model_copy(update=off))) as base:
        yield base


@pytest.fixture(autouse=True)
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARELOG_LLM_URL", raising=False)


async def _in_thread(url: str, token: str, run: Any, *args: Any, **kwargs: Any) -> Any:
    def call() -> Any:
        with Client(url, token) as carelog:
            return run(carelog, *args, **kwargs)

    return await asyncio.to_thread(call)


async def _events(pool: Pool, tenant: str, patient: str) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    from carelog.storage.db import connection

    async with connection(pool, tenant) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM patient_events WHERE tenant_id = %s AND patient_id = %s ORDER BY id",
            (tenant, patient),
        )
        return await cur.fetchall()


async def test_the_intake_agent_escalates_by_its_rules(url: str, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    token = await make_token(pool, tenant, *SCOPES)
    chest = intake.Intake(["chest pain"], "Synthetic chest pain.", 150, 95, 104, 96, 37.2)
    result = await _in_thread(url, token, intake.run, patient, chest)
    assert result["decision"] == "urgent"
    assert result["model"] is None
    events = await _events(pool, tenant, patient)
    kinds = [e["event_type"] for e in events]
    assert kinds == ["triage_note", "vital_signs", "workflow_transition", "agent_decision"]
    [row] = await case_rows(pool, tenant)
    assert (row["workflow"], row["data"]["severity"]) == ("escalation", "urgent")
    assert row["data"]["links"] == [events[0]["id"], events[1]["id"]]
    decision = events[-1]["payload"]
    assert decision["relied_on"] == [events[0]["id"], events[1]["id"]]
    assert decision["rationale"].startswith("Rule-based policy")
    assert "model" not in decision
    audited = [r for r in await audit_rows(pool, tenant) if r["action"] == "create"]
    assert {e["id"] for e in events} <= {i for r in audited for i in r["event_ids"] or ()}

    calm = intake.Intake([], "Synthetic: routine refill.", 120, 80, 70, 98, 36.8)
    quiet = await _in_thread(url, token, intake.run, new_patient(), calm)
    assert (quiet["decision"], quiet["escalation"]) == ("none", None)


async def test_the_prior_auth_agent_answers_a_pend_and_records_the_approval(
    url: str, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    admin = await make_token(pool, tenant, "admin")
    await _in_thread(url, admin, lambda c: c.put_payer("demo-plan", prior_auth.PAYER))
    token = await make_token(pool, tenant, *SCOPES)
    result = await _in_thread(
        url, token, prior_auth.run, patient, payer="demo-plan", simulate_payer=True
    )
    assert (result["status"], result["decision"]) == ("approved", "accept")
    case = await _in_thread(url, token, lambda c: c.get_case("prior_auth", result["case"]))
    steps = [(t.action, t.to) for t in case.timeline]
    assert steps == [
        ("open", "draft"), ("attach", "draft"), ("submit", "submitted"),
        ("respond", "pended"), ("attach", "pended"), ("submit", "submitted"),
        ("respond", "approved"),
    ]  # fmt: skip
    assert all(item.satisfied_by for item in case.checklist)
    decision = (await _events(pool, tenant, patient))[-1]
    assert decision["event_type"] == "agent_decision"
    assert decision["payload"]["relied_on"] == sorted(case.links)


async def test_the_care_coordination_agent_opens_a_task_for_a_gap_once(
    url: str, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    token = await make_token(pool, tenant, *SCOPES)

    def seed(carelog: Client) -> None:
        diabetes = {"icd10": "E11.9", "name": "Type 2 diabetes", "clinical_status": "active"}
        hypertension = {"icd10": "I10", "name": "Hypertension", "clinical_status": "active"}
        for payload in (diabetes, hypertension):
            carelog.record_event({"patient_id": patient, "event_type": "condition",
                                  "payload": payload})  # fmt: skip
        carelog.record_event({"patient_id": patient, "event_type": "vital_signs", "payload": {
            "blood_pressure": {"systolic": 132, "diastolic": 84}}})  # fmt: skip

    await _in_thread(url, token, seed)
    first = await _in_thread(url, token, care_coordination.run, patient)
    assert len(first["opened"]) == 1  # the HbA1c; the blood pressure is recent
    again = await _in_thread(url, token, care_coordination.run, patient)
    assert again["opened"] == []
    [task] = await case_rows(pool, tenant)
    assert task["data"]["description"] == "Care gap: order an HbA1c (none in 180 days)"
    assert task["assignee"] == "care-manager"
    decisions = [e for e in await _events(pool, tenant, patient)
                 if e["event_type"] == "agent_decision"]  # fmt: skip
    # The gap is still there the second time; its task is open, so no second one.
    assert [d["payload"]["action"] for d in decisions] == ["open_task", "none"] * 2
    assert all(d["payload"]["context_as_of"] for d in decisions)
