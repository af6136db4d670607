"""``carelog workflows list|show|rebuild`` against the test database, as an operator runs
them: what they print, the audit rows of the reads, and a rebuild that puts a broken row
right."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner, Result

from carelog.cli import app as cli
from carelog.settings import get_settings
from carelog.storage.db import Connection, Pool
from tests.e2e.workflow_kit import Clock, case_rows, new_team
from tests.factories import audit_rows, new_patient

pytestmark = pytest.mark.e2e

runner = CliRunner()


@pytest.fixture
def operator_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_list_show_and_rebuild(
    client: httpx.AsyncClient, pool: Pool, clock: Clock, dba: Connection, operator_env: None
) -> None:
    team = await new_team(pool)
    patient = new_patient()
    esc = await client.post(
        "/escalations",
        json={"patient_id": patient, "severity": "urgent", "reason": "synthetic fever"},
        headers=team.agent,
    )
    task = await client.post(
        "/care-tasks",
        json={"patient_id": patient, "description": "synthetic call", "assignee": "rn"},
        headers=team.agent,
    )
    case, task_id = esc.json()["id"], task.json()["id"]
    rows = await case_rows(pool, team.tenant)

    listed = await _run("workflows", "list", "--tenant", team.tenant)
    assert listed.exit_code == 0, listed.output
    assert case in listed.output
    assert task_id in listed.output
    only = await _run("workflows", "list", "--tenant", team.tenant, "--workflow", "care_task")
    assert case not in only.output
    assert task_id in only.output
    shown = await _run("workflows", "show", "--tenant", team.tenant, case)
    assert shown.exit_code == 0, shown.output
    assert '"status": "open"' in shown.output
    assert '"timeline"' in shown.output
    assert "synthetic fever" in shown.output
    missing = await _run(
        "workflows",
        "show",
        "--tenant",
        team.tenant,
        task_id.replace(task_id[0], "0", 1) if task_id[0] != "0" else task_id.replace("0", "1", 1),
    )
    assert missing.exit_code == 1
    audits = [
        r
        for r in await audit_rows(pool, team.tenant)
        if r["route"] and r["route"].startswith("carelog ")
    ]
    assert {(r["route"], r["action"], r["principal_id"]) for r in audits} >= {
        ("carelog workflows list", "search", "operator:cli"),
        ("carelog workflows show", "read", "operator:cli"),
    }

    assert (await _run("workflows", "rebuild", "--tenant", team.tenant, "--check")).exit_code == 0
    await dba.execute("UPDATE workflow_cases SET state = 'resolved' WHERE case_id = %s", (case,))
    checked = await _run("workflows", "rebuild", "--tenant", team.tenant, "--check")
    assert checked.exit_code == 1
    assert case in checked.output
    assert "1 differ" in checked.output
    fixed = await _run("workflows", "rebuild", "--tenant", team.tenant)
    assert fixed.exit_code == 1  # it found (and rewrote) one
    assert await case_rows(pool, team.tenant) == rows
    again = await _run("workflows", "rebuild", "--tenant", team.tenant)
    assert again.exit_code == 0
    assert "every row as its events make it" in again.output


async def _run(*args: str) -> Result:
    # The command runs its own event loop: in a thread, beside the test's.
    return await asyncio.to_thread(lambda: runner.invoke(cli, list(args)))


async def test_expire_moves_lapsed_approvals_on_and_nothing_else(
    client: httpx.AsyncClient, pool: Pool, clock: Clock, operator_env: None
) -> None:
    team = await new_team(pool)
    body = {
        "payer": {"id": "acme", "name": "Acme Health Plan"},
        "lines": [{"code": "70551", "description": "MRI", "service_from": "2026-03-10"}],
        "diagnosis_codes": ["G43.909"],
        "ordering_provider": {"npi": "1234567893"},
        "channel": "portal",
    }
    ids = []
    # Valid until 2026-03-31 (lapsed by today's date), and until 2199 (still valid).
    for until in ("2026-03-31", "2199-12-31"):
        opened = await client.post(
            "/prior-auth-cases", json=body | {"patient_id": new_patient()}, headers=team.agent
        )
        case = opened.json()["id"]
        for action in (
            {"action": "submit"},
            {"action": "respond", "decisions": [{"sequence": 1, "action": "certified"}],
             "authorization": {"number": "A-1", "valid_from": "2026-03-10",
                               "valid_until": until}},
        ):  # fmt: skip
            moved = await client.post(
                f"/prior-auth-cases/{case}/actions", json=action, headers=team.agent
            )
            assert moved.status_code == 200, moved.text
        ids.append(case)
    result = await _run("workflows", "expire", "--tenant", team.tenant)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [ids[0]]
    states = {r["case_id"]: r["state"] for r in await case_rows(pool, team.tenant)}
    assert states == {uuid.UUID(ids[0]): "expired", uuid.UUID(ids[1]): "approved"}
    read = await client.get(f"/prior-auth-cases/{ids[0]}", headers=team.clinician)
    last = read.json()["timeline"][-1]
    assert (last["action"], last["actor"], last["actor_kind"]) == ("expire", "operator:cli", "user")
    rows = [
        r for r in await audit_rows(pool, team.tenant) if r["route"] == "carelog workflows expire"
    ]
    assert [(r["action"], r["event_ids"]) for r in rows] == [("create", [last["event_id"]])]
    again = await _run("workflows", "expire", "--tenant", team.tenant)
    assert again.stdout.split() == []
