"""Intake escalation over HTTP: open, acknowledge, resolve, reopen; who may take which
action; response targets under a controlled clock; ETags and If-Match; the queue's order and
pages; idempotent retries; what another tenant or patient cannot see; the row as its events
rebuild it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from carelog.domain.principals import PrincipalKind
from carelog.domain.workflows import WORKFLOWS
from carelog.services import workflows as workflow_service
from carelog.storage.db import Connection, Pool
from tests.e2e.workflow_kit import (
    READ_WRITE,
    START,
    Clock,
    Team,
    act,
    case_rows,
    new_team,
    transition_events,
)
from tests.factories import audit_rows, count_events, make_key, new_patient

pytestmark = pytest.mark.e2e


async def _triage_note(client: httpx.AsyncClient, team: Team, patient: str, **extra: Any) -> int:
    body = {
        "patient_id": patient,
        "event_type": "note",
        "payload": {"text": "chest pain since this morning"},
        **extra,
    }
    response = await client.post("/patient-events", json=body, headers=team.agent)
    assert response.status_code == 200, response.text
    event_id: int = response.json()["id"]
    return event_id


async def _open(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    patient: str,
    severity: str = "urgent",
    **extra: Any,
) -> httpx.Response:
    body = {"patient_id": patient, "severity": severity, "reason": "chest pain", **extra}
    return await client.post("/escalations", json=body, headers=headers)


async def _act(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    case: str,
    action: str,
    *,
    if_match: str | None = None,
    **body: Any,
) -> httpx.Response:
    return await act(client, headers, "/escalations", case, action, if_match=if_match, **body)


async def test_an_escalation_from_intake_to_resolution(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    patient = new_patient()
    note = await _triage_note(client, team, patient)

    opened = await _open(client, team.agent, patient, "emergent", link_events=[note])
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert opened.headers["ETag"] == '"1"'
    assert opened.headers["Location"] == f"/escalations/{case['id']}"
    assert case["status"] == "open"
    assert case["version"] == 1
    assert case["is_open"]
    assert case["severity"] == "emergent"
    assert case["links"] == [note]
    assert case["due_at"] == "2026-03-02T09:15:00+00:00"  # emergent: 15 minutes
    assert case["overdue"] is False
    assert case["opened_by_kind"] == "agent"
    # An agent may not acknowledge: its allowed actions say what it may do.
    assert case["allowed_actions"] == ["cancel", "comment", "link"]

    clock.advance(minutes=16)
    queue = await client.get("/escalations?status=open&overdue=true", headers=team.clinician)
    assert queue.status_code == 200, queue.text
    assert [c["id"] for c in queue.json()] == [case["id"]]
    assert queue.json()[0]["overdue"] is True
    assert queue.json()[0]["allowed_actions"] == [
        "acknowledge", "resolve", "cancel", "comment", "link",
    ]  # fmt: skip

    refused = await _act(client, team.agent, case["id"], "acknowledge")
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"].endswith("transition-not-allowed")
    assert problem["state"] == "open"
    assert problem["allowed"] == ["cancel", "comment", "link"]

    acknowledged = await _act(client, team.clinician, case["id"], "acknowledge")
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.headers["ETag"] == '"2"'
    assert acknowledged.json()["status"] == "acknowledged"
    # The clock stops once a clinician has taken it.
    assert acknowledged.json()["overdue"] is False
    assert acknowledged.json()["due_at"] is None

    commented = await _act(client, team.agent, case["id"], "comment", comment="BP 150/95")
    assert commented.status_code == 200
    assert commented.headers["ETag"] == '"3"'
    stale = await _act(
        client, team.clinician, case["id"], "resolve", if_match='"2"', outcome="sent to ED"
    )
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 3
    resolved = await _act(
        client, team.clinician, case["id"], "resolve", if_match='"3"', outcome="sent to ED"
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["is_open"] is False
    assert resolved.json()["outcome"] == "sent to ED"

    no_reason = await _act(client, team.agent, case["id"], "reopen")
    assert no_reason.status_code == 422
    assert not (await client.get(f"/escalations/{case['id']}", headers=team.agent)).json()[
        "is_open"
    ]
    clock.advance(hours=1)
    reopened = await _act(client, team.agent, case["id"], "reopen", reason="pain is back")
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "open"
    # The response target starts again from the reopening.
    assert reopened.json()["due_at"] == "2026-03-02T10:31:00+00:00"

    read = await client.get(f"/escalations/{case['id']}", headers=team.clinician)
    assert read.status_code == 200
    assert read.headers["ETag"] == '"5"'
    timeline = read.json()["timeline"]
    assert [(t["action"], t["from"], t["to"]) for t in timeline] == [
        ("open", None, "open"),
        ("acknowledge", "open", "acknowledged"),
        ("comment", "acknowledged", "acknowledged"),
        ("resolve", "acknowledged", "resolved"),
        ("reopen", "resolved", "open"),
    ]
    assert [t["actor_kind"] for t in timeline] == ["agent", "user", "agent", "user", "agent"]
    assert timeline[2]["note"] == "BP 150/95"
    assert "comment" not in read.json()
    assert timeline[4]["reason"] == "pain is back"
    assert timeline[1]["at"] == "2026-03-02T09:16:00+00:00"

    # One event per transition in the patient's log, and the row as the events make it.
    events = await transition_events(pool, team.tenant)
    assert [e["payload"]["action"] for e in events] == [t["action"] for t in timeline]
    assert {e["patient_id"] for e in events} == {patient}
    [row] = await case_rows(pool, team.tenant)
    assert row["version"] == 5
    assert row["state"] == "open"
    assert row["event_ids"] == [e["id"] for e in events]
    # The log's own reads show them too, like any other event.
    log = await client.get(
        f"/patient-events/{patient}?event_type=workflow_transition", headers=team.agent
    )
    assert len(log.json()) == 5

    audits = [(a["action"], a["route"], a["status"]) for a in await audit_rows(pool, team.tenant)]
    assert ("create", "/escalations", None) in audits
    assert ("read", "/escalations/{case_id}", None) in audits
    assert ("search", "/escalations", None) in audits
    # Every transition's event is audited as it is written; refusals are audited too.
    actions = [a for a in audits if a[1] == "/escalations/{case_id}/actions"]
    assert [a[0] for a in actions if a[2] is None] == ["create"] * 4
    assert {a[2] for a in actions if a[2] is not None} == {409, 412, 422}


async def test_agents_cancel_only_their_own_and_only_people_resolve(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    case = (await _open(client, team.agent, new_patient())).json()
    theirs = await _act(client, team.other_agent, case["id"], "cancel", reason="duplicate")
    assert theirs.status_code == 409
    assert theirs.json()["allowed"] == ["comment", "link"]
    assert (await _act(client, team.agent, case["id"], "resolve", outcome="x")).status_code == 409
    no_reason = await _act(client, team.agent, case["id"], "cancel")
    assert no_reason.status_code == 422
    cancelled = await _act(client, team.agent, case["id"], "cancel", reason="duplicate")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    # A cancelled case stays, closed, and takes no more actions.
    after = await _act(client, team.clinician, case["id"], "acknowledge")
    assert after.status_code == 409
    assert after.json()["allowed"] == []
    listed = await client.get("/escalations?status=cancelled", headers=team.clinician)
    assert [c["id"] for c in listed.json()] == [case["id"]]


async def test_the_queue_is_severity_then_age_in_keyset_pages(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    opened = []
    for severity in ["routine", "urgent", "emergent", "urgent", "routine", "emergent"]:
        opened.append((severity, (await _open(client, team.agent, new_patient(), severity)).json()))
        clock.advance(minutes=1)
    rank = {"emergent": 0, "urgent": 1, "routine": 2}
    expected = [case["id"] for _, case in sorted(opened, key=lambda p: rank[p[0]])]

    seen: list[str] = []
    url: str | None = "/escalations?status=open&limit=4"
    while url is not None:
        page = await client.get(url, headers=team.clinician)
        assert page.status_code == 200, page.text
        seen += [c["id"] for c in page.json()]
        link = page.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
    assert seen == expected

    # Due times follow severity: emergent 15 min, urgent 2 h, routine 2 days from opening.
    clock.now = START.replace(hour=11, minute=2)
    overdue = await client.get("/escalations?overdue=true", headers=team.clinician)
    assert {c["severity"] for c in overdue.json()} == {"emergent", "urgent"}
    assert all(c["overdue"] for c in overdue.json())


async def test_tenant_targets_set_the_due_times(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    assert (await client.get("/escalations/targets", headers=team.clinician)).json() == {
        "emergent": 900, "urgent": 7200, "routine": 172800,
    }  # fmt: skip
    denied = await client.put("/escalations/targets", json={"urgent": 600}, headers=team.agent)
    assert denied.status_code == 403
    bad = await client.put("/escalations/targets", json={"urgent": "soon"}, headers=team.admin)
    assert bad.status_code == 422
    tiny = await client.put("/escalations/targets", json={"urgent": 1}, headers=team.admin)
    assert tiny.status_code == 422
    put = await client.put("/escalations/targets", json={"urgent": 600}, headers=team.admin)
    assert put.status_code == 200
    assert put.json()["urgent"] == 600
    case = (await _open(client, team.agent, new_patient(), "urgent")).json()
    assert case["due_at"] == "2026-03-02T09:10:00+00:00"


async def test_idempotent_opens_and_actions(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    patient = new_patient()
    key = {"Idempotency-Key": "open-1"}
    first = await _open(client, team.agent | key, patient)
    again = await _open(client, team.agent | key, patient)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(await case_rows(pool, team.tenant)) == 1
    other = await _open(client, team.agent | key, patient, "routine")
    assert other.status_code == 409
    assert other.json()["type"].endswith("idempotency-key-reused")

    case = first.json()["id"]
    act_key = {"Idempotency-Key": "ack-1"}
    ack = await _act(client, team.clinician | act_key, case, "acknowledge")
    await _act(client, team.clinician, case, "comment", comment="seen")
    replay = await _act(client, team.clinician | act_key, case, "acknowledge")
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    # The replay answers what the first request answered, not the case as it is now.
    assert replay.json()["version"] == ack.json()["version"] == 2
    assert replay.headers["ETag"] == '"2"'
    assert [e["payload"]["action"] for e in await transition_events(pool, team.tenant)] == [
        "open", "acknowledge", "comment",
    ]  # fmt: skip


async def test_twenty_racing_transitions_have_one_winner(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    case = (await _open(client, team.agent, new_patient(), "emergent")).json()
    clinicians = [
        await make_key(pool, team.tenant, *READ_WRITE, kind=PrincipalKind.USER) for _ in range(20)
    ]
    answers = await asyncio.gather(
        *(_act(client, headers, case["id"], "acknowledge") for headers in clinicians)
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 19
    losers = [a.json() for a in answers if a.status_code == 409]
    assert all(p["state"] == "acknowledged" for p in losers)
    [row] = await case_rows(pool, team.tenant)
    assert row["version"] == 2
    assert len(await transition_events(pool, team.tenant)) == 2

    # And twenty stale If-Match writers: none wins.
    stale = await asyncio.gather(
        *(
            _act(client, headers, case["id"], "comment", if_match='"1"', comment="me")
            for headers in clinicians
        )
    )
    assert {a.status_code for a in stale} == {412}


async def test_what_another_tenant_patient_or_label_cannot_reach(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team, stranger = await new_team(pool), await new_team(pool)
    patient, other_patient = new_patient(), new_patient()
    case = (await _open(client, team.agent, patient)).json()

    assert (
        await client.get(f"/escalations/{case['id']}", headers=stranger.clinician)
    ).status_code == 404
    assert (await _act(client, stranger.clinician, case["id"], "acknowledge")).status_code == 404
    assert (await client.get("/escalations", headers=stranger.clinician)).json() == []

    limited = await make_key(
        pool, team.tenant, "patient/Task.cruds", kind=PrincipalKind.AGENT,
        patients=frozenset({other_patient}),
    )  # fmt: skip
    assert (await client.get(f"/escalations/{case['id']}", headers=limited)).status_code == 404
    assert (await client.get(f"/escalations?patient_id={patient}", headers=limited)).json() == []
    assert (await _open(client, limited, patient)).status_code == 403
    assert (await _open(client, limited, other_patient)).status_code == 201

    # A case linking a BH-labelled event is BH itself: a key without sensitive:BH misses it.
    bh = await _triage_note(client, team, patient, labels=["BH"])
    wide = await make_key(pool, team.tenant, *READ_WRITE, "sensitive:BH", kind=PrincipalKind.AGENT)
    hidden = (await _open(client, wide, patient, link_events=[bh])).json()
    assert hidden["labels"] == ["BH"]
    assert (
        await client.get(f"/escalations/{hidden['id']}", headers=team.clinician)
    ).status_code == 404
    assert (await client.get(f"/escalations/{hidden['id']}", headers=wide)).status_code == 200

    # No workflows scope: 403; no key: 401.
    events_only = await make_key(pool, team.tenant, "events:read", "events:write")
    assert (await client.get("/escalations", headers=events_only)).status_code == 403
    assert (await _open(client, events_only, patient)).status_code == 403
    assert (await client.get("/escalations")).status_code == 401


async def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team, stranger = await new_team(pool), await new_team(pool)
    patient = new_patient()
    others = await _triage_note(client, team, new_patient())
    foreign = await _triage_note(client, stranger, patient)
    before = await count_events(pool, team.tenant)

    cases: list[tuple[dict[str, Any], str]] = [
        ({"severity": "catastrophic"}, "severity"),
        ({"reason": "x" * 2001}, "reason"),
        ({"reason": ""}, "reason"),
        ({"link_events": [others]}, "link_events.0"),
        ({"link_events": [foreign]}, "link_events.0"),
        ({"link_events": [0]}, "link_events.0"),
        ({"link_events": [1, 1]}, "link_events"),
        ({"status": "open"}, "status"),
        ({"patient_id": "has space"}, "patient_id"),
    ]
    for extra, field in cases:
        response = await _open(client, team.agent, patient, **extra)
        assert response.status_code == 422, (extra, response.text)
        assert any(e["field"].startswith(field) for e in response.json()["errors"]), extra
    assert await count_events(pool, team.tenant) == before
    assert await case_rows(pool, team.tenant) == []

    case = (await _open(client, team.agent, patient)).json()["id"]
    for body in [
        {"action": "explode"},
        {"action": "comment"},
        {"action": "comment", "comment": "x" * 10_001},
    ]:
        assert (
            await client.post(f"/escalations/{case}/actions", json=body, headers=team.agent)
        ).status_code == 422
    bad_etag = await _act(client, team.clinician, case, "acknowledge", if_match="yesterday")
    assert bad_etag.status_code == 422
    assert (await client.get("/escalations/not-a-uuid", headers=team.agent)).status_code == 422
    assert (await client.get("/escalations?status=lost", headers=team.agent)).status_code == 422
    assert (await client.get("/escalations?cursor=abc", headers=team.agent)).status_code == 422
    assert (await client.get("/escalations?colour=red", headers=team.agent)).status_code == 422
    [row] = await case_rows(pool, team.tenant)
    assert row["version"] == 1


async def test_replaying_the_events_rebuilds_every_row_exactly(
    client: httpx.AsyncClient, pool: Pool, clock: Clock, dba: Connection
) -> None:
    team = await new_team(pool)
    note = await _triage_note(client, team, patient := new_patient())
    first = (await _open(client, team.agent, patient, "emergent", link_events=[note])).json()
    second = (await _open(client, team.agent, new_patient(), "routine")).json()
    clock.advance(minutes=3)
    await _act(client, team.clinician, first["id"], "acknowledge")
    await _act(client, team.agent, first["id"], "comment", comment="vitals attached")
    await _act(client, team.clinician, first["id"], "resolve", outcome="advised")
    await _act(client, team.agent, second["id"], "cancel", reason="wrong patient")
    rows = await case_rows(pool, team.tenant)

    report = await workflow_service.rebuild(pool, WORKFLOWS, tenant_id=team.tenant, check=True)
    assert report.ok
    assert report.cases == 2

    # Break the rows behind the service's back (the DBA can): one wrong, one gone.
    await dba.execute(
        "UPDATE workflow_cases SET state = 'open', version = 9, data = '{}' WHERE case_id = %s",
        (first["id"],),
    )
    await dba.execute("DELETE FROM workflow_cases WHERE case_id = %s", (second["id"],))
    checked = await workflow_service.rebuild(pool, WORKFLOWS, tenant_id=team.tenant, check=True)
    assert checked.differed == [first["id"]]
    assert checked.missing == [second["id"]]
    fixed = await workflow_service.rebuild(pool, WORKFLOWS, tenant_id=team.tenant)
    assert not fixed.ok
    assert await case_rows(pool, team.tenant) == rows
    assert (await workflow_service.rebuild(pool, WORKFLOWS, tenant_id=team.tenant)).ok


async def test_no_client_forges_or_rewrites_a_transition(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    patient = new_patient()
    await _open(client, team.agent, patient)
    forged = {
        "patient_id": patient,
        "event_type": "workflow_transition",
        "payload": {
            "workflow": "escalation",
            "case_id": "x",
            "action": "resolve",
            "to": "resolved",
        },
    }
    response = await client.post("/patient-events", json=forged, headers=team.admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "reserved_event_type"
    [event] = await transition_events(pool, team.tenant)
    corrected = await client.post(
        f"/events/{event['id']}/corrections",
        json={"payload": {"to": "resolved"}, "reason": "forged"},
        headers=team.admin,
    )
    assert corrected.status_code == 409
    retracted = await client.post(
        f"/events/{event['id']}/retractions", json={"reason": "gone"}, headers=team.admin
    )
    assert retracted.status_code == 409
    assert len(await transition_events(pool, team.tenant)) == 1
