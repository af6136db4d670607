"""Care tasks over HTTP: the FHIR Task flow, who may take which step, If-Match where an
action overwrites fields, the assignee's queue, due times under a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from carelog.domain.workflows import WORKFLOWS
from carelog.services import workflows as workflow_service
from carelog.storage.db import Pool
from tests.e2e.workflow_kit import Clock, act, case_rows, new_team
from tests.factories import count_events, new_patient

pytestmark = pytest.mark.e2e


async def _open(
    client: httpx.AsyncClient, headers: dict[str, str], patient: str, **extra: Any
) -> httpx.Response:
    body = {
        "patient_id": patient,
        "description": "call the patient about the new metformin dose",
        "assignee": "care-manager",
        **extra,
    }
    return await client.post("/care-tasks", json=body, headers=headers)


async def _act(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    case: str,
    action: str,
    *,
    if_match: str | None = None,
    **body: Any,
) -> httpx.Response:
    return await act(client, headers, "/care-tasks", case, action, if_match=if_match, **body)


async def test_a_task_from_request_to_completion(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    opened = await _open(
        client, team.agent, new_patient(), priority="urgent", due_at="2026-03-02T17:00:00+01:00"
    )
    assert opened.status_code == 201, opened.text
    task = opened.json()
    assert task["status"] == "requested"
    assert task["assignee"] == "care-manager"
    assert task["due_at"] == "2026-03-02T16:00:00+00:00"  # stored and answered in UTC
    assert task["allowed_actions"] == ["cancel", "reassign", "reschedule", "comment", "link"]

    # Only the team takes the steps of the work; the agent that opened it may not.
    assert (await _act(client, team.agent, task["id"], "accept")).status_code == 409
    steps = [("accept", {}), ("start", {}), ("hold", {"reason": "waiting for the lab"})]
    for action, body in steps:
        response = await _act(client, team.clinician, task["id"], action, **body)
        assert response.status_code == 200, response.text
    assert response.json()["status"] == "on_hold"
    # An on-hold task may be cancelled, an in-progress one may not (FHIR: before work is done).
    resumed = await _act(client, team.clinician, task["id"], "resume")
    assert resumed.json()["status"] == "in_progress"
    refused = await _act(client, team.agent, task["id"], "cancel", reason="no longer needed")
    assert refused.status_code == 409
    assert "cancel" not in refused.json()["allowed"]

    clock.advance(hours=8)  # 17:00 UTC: an hour past due
    overdue = await client.get("/care-tasks?overdue=true", headers=team.clinician)
    assert [t["id"] for t in overdue.json()] == [task["id"]]
    done = await _act(client, team.clinician, task["id"], "complete", outcome="dose explained")
    assert done.json()["status"] == "completed"
    assert done.json()["overdue"] is False
    assert done.json()["due_at"] is None
    assert (await client.get("/care-tasks?overdue=true", headers=team.clinician)).json() == []
    # A closed task stays, with its whole timeline.
    read = (await client.get(f"/care-tasks/{task['id']}", headers=team.agent)).json()
    assert [t["to"] for t in read["timeline"]] == [
        "requested", "accepted", "in_progress", "on_hold", "in_progress", "completed",
    ]  # fmt: skip
    assert read["timeline"][3]["reason"] == "waiting for the lab"


async def test_reassigning_needs_if_match_and_the_queue_follows_the_assignee(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    task = (await _open(client, team.agent, new_patient())).json()["id"]
    other = (await _open(client, team.agent, new_patient(), assignee="pharmacist")).json()["id"]

    blind = await _act(client, team.clinician, task, "reassign", assignee="pharmacist")
    assert blind.status_code == 428
    assert blind.json()["type"].endswith("precondition-required")
    await _act(client, team.clinician, task, "comment", comment="called, no answer")
    stale = await _act(
        client, team.clinician, task, "reassign", if_match='"1"', assignee="pharmacist"
    )
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2
    moved = await _act(
        client, team.clinician, task, "reassign", if_match='"2"', assignee="pharmacist"
    )
    assert moved.status_code == 200
    assert moved.headers["ETag"] == '"3"'
    assert moved.json()["assignee"] == "pharmacist"

    mine = await client.get("/care-tasks?assignee=pharmacist", headers=team.clinician)
    assert {t["id"] for t in mine.json()} == {task, other}
    assert (
        await client.get("/care-tasks?assignee=care-manager", headers=team.clinician)
    ).json() == []

    due = await _act(
        client, team.clinician, task, "reschedule", if_match="3", priority="stat",
        due_at="2026-03-02T10:00:00Z",
    )  # fmt: skip
    assert due.status_code == 200, due.text
    queue = await client.get("/care-tasks?status=requested", headers=team.clinician)
    assert [t["id"] for t in queue.json()] == [task, other]  # stat before routine


async def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    patient = new_patient()
    before = await count_events(pool, team.tenant)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"due_at": "tomorrow"}, "due_at"),
        ({"due_at": "2026-02-30T10:00:00Z"}, "due_at"),
        ({"due_at": "2026-03-02T10:00:00"}, "due_at"),  # no offset
        ({"due_at": 1767225600}, "due_at"),
        ({"priority": "whenever"}, "priority"),
        ({"assignee": "care manager"}, "assignee"),
        ({"description": ""}, "description"),
        ({"status": "completed"}, "status"),
    ]
    for extra, field in cases:
        response = await _open(client, team.agent, patient, **extra)
        assert response.status_code == 422, (extra, response.text)
        assert any(e["field"].startswith(field) for e in response.json()["errors"]), extra
    assert await count_events(pool, team.tenant) == before
    task = (await _open(client, team.agent, patient)).json()["id"]
    empty = await _act(client, team.clinician, task, "reschedule", if_match="1")
    assert empty.status_code == 422
    assert (await client.get("/care-tasks?assignee=a%20b", headers=team.agent)).status_code == 422
    assert (await client.get("/care-tasks?status=open", headers=team.agent)).status_code == 422


async def test_the_rows_are_what_the_events_replay(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    task = (await _open(client, team.agent, new_patient(), due_at="2026-03-03T09:00:00Z")).json()
    await _act(client, team.clinician, task["id"], "accept")
    await _act(client, team.clinician, task["id"], "reschedule", if_match="2", priority="asap")
    await _act(client, team.clinician, task["id"], "reassign", if_match="3", assignee="key:abc")
    rows = await case_rows(pool, team.tenant)
    report = await workflow_service.rebuild(pool, WORKFLOWS, tenant_id=team.tenant, check=True)
    assert report.ok
    assert report.cases == 1
    assert rows[0]["assignee"] == "key:abc"
    assert rows[0]["rank"] == 1


async def test_times_are_stored_in_utc(client: httpx.AsyncClient, pool: Pool, clock: Clock) -> None:
    team = await new_team(pool)
    task = await _open(client, team.agent, new_patient(), due_at="2026-03-02T17:00:00+01:00")
    assert task.json()["due_at"] == "2026-03-02T16:00:00+00:00"
    [row] = await case_rows(pool, team.tenant)
    assert row["data"]["due_at"] == "2026-03-02T16:00:00+00:00"
    assert row["due_at"] == datetime(2026, 3, 2, 16, tzinfo=UTC)
    read = (await client.get(f"/care-tasks/{task.json()['id']}", headers=team.agent)).json()
    assert read["timeline"][0]["changes"]["due_at"] == "2026-03-02T16:00:00+00:00"
    assert read["timeline"][0]["at"] == "2026-03-02T09:00:00+00:00"
