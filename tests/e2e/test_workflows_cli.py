"""``carelog workflows list|show|rebuild`` against the test database, as an operator runs
them: what they print, the audit rows of the reads, and a rebuild that puts a broken row
right."""

from __future__ import annotations

import asyncio
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
