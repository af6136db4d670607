"""Prior authorization over HTTP: the payer's checklist, submission, per-line decisions and
the state they make, the decision clock (pended, resubmitted, extended), appeals, expiry,
the queue's payer filter, and refusals of bad input with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from carelog.domain.workflows import WORKFLOWS
from carelog.services import workflows as workflow_service
from carelog.storage.db import Connection, Pool
from tests.e2e.workflow_kit import START, Clock, Team, act, case_rows, new_team, transition_events
from tests.factories import new_patient

pytestmark = pytest.mark.e2e

BASE = "/prior-auth-cases"
NPI = "1234567893"  # the example NPI of the CMS check-digit documentation
PAYER = {
    "name": "Acme Health Plan",
    "services": [
        {
            "code": "70551",
            "requirements": [
                {"id": "clinical-notes", "description": "Notes of the last two visits"},
                {"id": "prior-imaging", "description": "Was imaging done before?",
                 "kind": "answer"},
            ],
        },
        {"code": "97110", "requires_auth": False},
    ],
}  # fmt: skip
MRI = {"code": "70551", "description": "MRI brain without contrast", "service_from": "2026-03-10"}
PT = {"code": "97110", "description": "Therapeutic exercise", "quantity": 8,
      "service_from": "2026-03-10", "service_to": "2026-04-30"}  # fmt: skip
AUTH = {"number": "AUTH-2026-0001", "valid_from": "2026-03-10", "valid_until": "2026-03-31"}


async def _payer(client: httpx.AsyncClient, team: Team, payer: str = "acme", **rules: Any) -> None:
    response = await client.put(f"/payers/{payer}", json=PAYER | rules, headers=team.admin)
    assert response.status_code == 200, response.text


async def _event(client: httpx.AsyncClient, team: Team, patient: str, text: str) -> int:
    body = {"patient_id": patient, "event_type": "note", "payload": {"text": text}}
    response = await client.post("/patient-events", json=body, headers=team.agent)
    assert response.status_code == 200, response.text
    event_id: int = response.json()["id"]
    return event_id


def _request(patient: str, **extra: Any) -> dict[str, Any]:
    return {
        "patient_id": patient,
        "payer": {"id": "acme"},
        "lines": [MRI],
        "diagnosis_codes": ["G43.909"],
        "ordering_provider": {"npi": NPI, "name": "Dr. Synthetic"},
        "channel": "fhir_pas",
        **extra,
    }


async def _open(
    client: httpx.AsyncClient, team: Team, patient: str, **extra: Any
) -> dict[str, Any]:
    response = await client.post(BASE, json=_request(patient, **extra), headers=team.agent)
    assert response.status_code == 201, response.text
    case: dict[str, Any] = response.json()
    return case


async def _act(
    client: httpx.AsyncClient, team: Team, case: str, action: str, **body: Any
) -> httpx.Response:
    return await act(client, team.agent, BASE, case, action, **body)


async def _ready(client: httpx.AsyncClient, team: Team, patient: str, case: dict[str, Any]) -> None:
    """Satisfy every checklist item of ``case`` with a new note of the patient."""
    satisfies = [
        {"item": item["id"], "event_id": await _event(client, team, patient, item["description"])}
        for item in case.get("checklist") or ()
        if item["satisfied_by"] is None
    ]
    if satisfies:
        response = await _act(client, team, case["id"], "attach", satisfies=satisfies)
        assert response.status_code == 200, response.text


async def _submitted(
    client: httpx.AsyncClient, pool: Pool, **extra: Any
) -> tuple[Team, dict[str, Any], httpx.Response]:
    """A new team with the payer, and a case of a new patient, its checklist satisfied and
    submitted: the team, the case as opened and the submission's answer."""
    team = await new_team(pool)
    await _payer(client, team)
    patient = new_patient()
    case = await _open(client, team, patient, **extra)
    await _ready(client, team, patient, case)
    return team, case, await _act(client, team, case["id"], "submit")


async def test_a_request_from_draft_to_approval(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    await _payer(client, team)
    patient = new_patient()
    case = await _open(client, team, patient, lines=[MRI, PT])
    assert case["status"] == "draft"
    assert case["payer"] == {"id": "acme", "name": "Acme Health Plan"}  # from the payer table
    assert [(line["sequence"], line["requires_auth"]) for line in case["lines"]] == [
        (1, True), (2, False)
    ]  # fmt: skip
    assert [item["id"] for item in case["checklist"]] == [
        "70551.clinical-notes", "70551.prior-imaging"
    ]  # fmt: skip

    # Submitting with items open is refused, naming them; nothing moves.
    refused = await _act(client, team, case["id"], "submit")
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "requirements-not-met"
    assert [i["id"] for i in refused.json()["open_items"]] == [
        "70551.clinical-notes", "70551.prior-imaging"
    ]  # fmt: skip

    # An item is satisfied only by an event of the same patient, and only a real item.
    other = await _event(client, team, new_patient(), "someone else's notes")
    note = await _event(client, team, patient, "visit notes")
    wrong = await _act(client, team, case["id"], "attach", satisfies=[
        {"item": "70551.clinical-notes", "event_id": other}])  # fmt: skip
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "satisfies.0.event_id"
    unknown = await _act(client, team, case["id"], "attach", satisfies=[
        {"item": "70551.x-ray", "event_id": note}])  # fmt: skip
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["type"] == "unknown_item"
    half = await _act(client, team, case["id"], "attach", satisfies=[
        {"item": "70551.clinical-notes", "event_id": note}])  # fmt: skip
    assert half.status_code == 200, half.text
    assert half.json()["links"] == [note]
    still = await _act(client, team, case["id"], "submit")
    assert [i["id"] for i in still.json()["open_items"]] == ["70551.prior-imaging"]
    await _ready(client, team, patient, half.json())

    submitted = await _act(client, team, case["id"], "submit", tracking_number="ACME-778")
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    assert (body["status"], body["tracking_number"]) == ("submitted", "ACME-778")
    assert body["due_at"] == (START + timedelta(days=7)).isoformat()  # standard: 7 days

    # An approval carries the authorization number and its validity.
    both = [{"sequence": 1, "action": "certified"}, {"sequence": 2, "action": "certified"}]
    bare = await _act(client, team, case["id"], "respond", decisions=both)
    assert bare.status_code == 422
    assert bare.json()["errors"][0]["field"] == "authorization"
    clock.advance(days=2)
    approved = await _act(client, team, case["id"], "respond", decisions=both, authorization=AUTH)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["status"], body["is_open"], body["due_at"]) == ("approved", False, None)
    assert body["authorization"] == AUTH
    assert body["decided_at"] == (START + timedelta(days=2)).isoformat()
    assert [line["decision"]["review_action"] for line in body["lines"]] == ["A1", "A1"]

    read = await client.get(f"{BASE}/{case['id']}", headers=team.clinician)
    steps = [(t["action"], t["from"], t["to"]) for t in read.json()["timeline"]]
    assert steps == [
        ("open", None, "draft"), ("attach", "draft", "draft"), ("attach", "draft", "draft"),
        ("submit", "draft", "submitted"), ("respond", "submitted", "approved"),
    ]  # fmt: skip
    assert read.json()["timeline"][-1]["at"] == (START + timedelta(days=2)).isoformat()
    rows = await case_rows(pool, team.tenant)
    assert [(r["state"], r["payer_id"], r["version"]) for r in rows] == [("approved", "acme", 5)]
    assert len(await transition_events(pool, team.tenant)) == 5

    listed = await client.get(f"{BASE}?payer=acme", headers=team.clinician)
    assert [c["id"] for c in listed.json()] == [case["id"]]
    assert (await client.get(f"{BASE}?payer=other", headers=team.clinician)).json() == []


async def test_a_denial_needs_a_reason_and_an_appeal_can_overturn_it(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team, case, submitted = await _submitted(client, pool, urgency="expedited")
    assert submitted.json()["due_at"] == (START + timedelta(hours=72)).isoformat()

    no_reason = await _act(client, team, case["id"], "respond", decisions=[
        {"sequence": 1, "action": "not_certified"}])  # fmt: skip
    assert no_reason.status_code == 422
    reason = "Not medically necessary: no neurological deficit documented (policy NR-12)"
    denied = await _act(client, team, case["id"], "respond", decisions=[
        {"sequence": 1, "action": "not_certified", "reason": reason,
         "reason_code": "N-12"}])  # fmt: skip
    assert denied.status_code == 200, denied.text
    assert denied.json()["status"] == "denied"
    assert denied.json()["lines"][0]["decision"]["reason"] == reason
    assert denied.json()["allowed_actions"] == ["appeal", "comment"]

    assert (await _act(client, team, case["id"], "appeal")).status_code == 422  # needs a reason
    clock.advance(days=1)
    appealed = await _act(client, team, case["id"], "appeal", reason="new neurology note")
    assert appealed.status_code == 200, appealed.text
    body = appealed.json()
    assert (body["status"], body["review"]) == ("appealed", "appeal")
    assert body["due_at"] == (clock.now + timedelta(hours=72)).isoformat()  # expedited appeal
    assert body["lines"][0]["decision"] is None
    assert body["lines"][0]["initial_decision"]["action"] == "not_certified"

    overturned = await _act(client, team, case["id"], "respond", authorization=AUTH, decisions=[
        {"sequence": 1, "action": "certified"}])  # fmt: skip
    assert overturned.status_code == 200, overturned.text
    assert overturned.json()["status"] == "approved"
    assert overturned.json()["lines"][0]["decision"]["review"] == "appeal"


@pytest.mark.parametrize(
    ("decisions", "state"),
    [
        ([{"action": "certified"}, {"action": "not_certified", "reason": "not covered"}],
         "partially_approved"),
        ([{"action": "certified"}, {"action": "partial", "reason": "4 visits are enough",
                                    "approved_quantity": 4}], "partially_approved"),
        ([{"action": "modified", "reason": "without contrast only", "approved_code": "70551"},
          {"action": "certified"}], "modified"),
        ([{"action": "cancelled"}, {"action": "cancelled"}], "cancelled"),
        ([{"action": "certified"}, {"action": "cancelled"}], "approved"),
        ([{"action": "not_certified", "reason": "not covered"}, {"action": "cancelled"}],
         "denied"),
    ],
)  # fmt: skip
async def test_the_lines_make_the_state(
    client: httpx.AsyncClient, pool: Pool, clock: Clock, decisions: list[dict[str, Any]],
    state: str,
) -> None:  # fmt: skip
    team, case, _ = await _submitted(client, pool, lines=[MRI, PT])
    sent = [{"sequence": i, **d} for i, d in enumerate(decisions, start=1)]
    approving = any(d["action"] in ("certified", "partial", "modified") for d in decisions)
    extra = {"authorization": AUTH} if approving else {}
    response = await _act(client, team, case["id"], "respond", decisions=sent, **extra)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == state


async def test_a_pended_case_waits_on_the_provider_and_resubmission_restarts_the_clock(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team, case, _ = await _submitted(client, pool)

    clock.advance(days=2)
    respond_by = (START + timedelta(days=5)).isoformat()
    pended = await _act(client, team, case["id"], "respond", respond_by=respond_by, decisions=[
        {"sequence": 1, "action": "pended", "reason": "need the MRI order form"}], requested=[
        {"id": "order-form", "description": "The signed MRI order form"}])  # fmt: skip
    assert pended.status_code == 200, pended.text
    body = pended.json()
    assert (body["status"], body["due_at"], body.get("decided_at")) == ("pended", respond_by, None)
    assert body["lines"][0]["decision"]["review_action"] == "A4"

    clock.advance(days=4)  # a day past the payer's respond_by
    overdue = await client.get(f"{BASE}?overdue=true", headers=team.clinician)
    assert [c["id"] for c in overdue.json()] == [case["id"]]
    refused = await _act(client, team, case["id"], "submit")
    assert refused.status_code == 409
    assert [i["id"] for i in refused.json()["open_items"]] == ["order-form"]
    await _ready(client, team, case["patient_id"], body)
    again = await _act(client, team, case["id"], "submit")
    assert again.status_code == 200, again.text
    assert again.json()["due_at"] == (clock.now + timedelta(days=7)).isoformat()
    assert again.json()["first_submitted_at"] == START.isoformat()

    extended = await _act(client, team, case["id"], "extend", days=3, reason="specialist review")
    assert extended.status_code == 200, extended.text
    assert extended.json()["due_at"] == (clock.now + timedelta(days=10)).isoformat()
    twice = await _act(client, team, case["id"], "extend", days=3, reason="more")
    assert (twice.status_code, twice.json()["code"]) == (409, "already-extended")
    assert (await _act(client, team, case["id"], "extend", days=15, reason="x")).status_code == 422

    # A decided line keeps its decision; a decision must cover every open line.
    clock.advance(days=9)
    approved = await _act(client, team, case["id"], "respond", authorization=AUTH, decisions=[
        {"sequence": 1, "action": "certified"}])  # fmt: skip
    assert approved.json()["status"] == "approved"
    assert approved.json()["overdue"] is False


async def test_an_approval_expires_only_after_its_valid_until_date(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team, case, _ = await _submitted(client, pool)
    await _act(client, team, case["id"], "respond", authorization=AUTH, decisions=[
        {"sequence": 1, "action": "certified"}])  # fmt: skip
    early = await _act(client, team, case["id"], "expire")
    assert (early.status_code, early.json()["code"]) == (409, "authorization-still-valid")
    clock.now = datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC)
    expired = await _act(client, team, case["id"], "expire")
    assert expired.status_code == 200, expired.text
    assert (expired.json()["status"], expired.json()["allowed_actions"]) == ("expired", ["comment"])


async def test_a_draft_is_edited_with_if_match_and_its_checklist_follows_its_lines(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team = await new_team(pool)
    await _payer(client, team)
    patient = new_patient()
    case = await _open(client, team, patient, lines=[PT])
    assert case.get("checklist") is None  # 97110 needs no authorization with this payer
    blind = await _act(client, team, case["id"], "update", lines=[MRI])
    assert blind.status_code == 428
    sent = dict(team.agent) | {"If-Match": '"1"'}
    edited = await client.post(f"{BASE}/{case['id']}/actions", headers=sent,
                               json={"action": "update", "lines": [MRI],
                                     "urgency": "expedited"})  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert edited.json()["urgency"] == "expedited"
    assert len(edited.json()["checklist"]) == 2
    stale = await client.post(f"{BASE}/{case['id']}/actions", headers=sent,
                              json={"action": "update", "lines": [PT]})  # fmt: skip
    assert stale.status_code == 412


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": [MRI | {"code": "7055"}]}, "lines.0.code"),
        ({"lines": [MRI | {"service_from": 20260310}]}, "lines.0.service_from"),
        ({"lines": [MRI | {"service_from": "2026-02-30"}]}, "lines.0.service_from"),
        ({"lines": [PT | {"service_to": "2026-03-01"}]}, "lines.0"),
        ({"lines": []}, "lines"),
        ({"diagnosis_codes": ["g43.909"]}, "diagnosis_codes.0"),
        ({"diagnosis_codes": ["G43.909", "G43.909"]}, "diagnosis_codes"),
        ({"ordering_provider": {"npi": "1234567890"}}, "ordering_provider.npi"),
        ({"channel": "email"}, "channel"),
        ({"urgency": "urgent"}, "urgency"),
        ({"tracking_number": "has spaces"}, "tracking_number"),
        ({"payer": {"id": "acme", "name": "x" * 201}}, "payer.name"),
        ({"payer": {"id": "nobody"}}, "payer.name"),
        ({"notes": "a" * 10_001}, "notes"),
    ],
)
async def test_bad_requests_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, pool: Pool, change: dict[str, Any], field: str
) -> None:
    team = await new_team(pool)
    await _payer(client, team)
    response = await client.post(BASE, json=_request(new_patient(), **change), headers=team.agent)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation-failed"
    assert response.json()["errors"][0]["field"].startswith(field)
    assert await case_rows(pool, team.tenant) == []
    assert await transition_events(pool, team.tenant) == []


async def test_bad_decisions_are_refused(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team, case, _ = await _submitted(client, pool, lines=[MRI, PT])
    cases = [
        ([{"sequence": 1, "action": "certified"}], "decisions"),  # line 2 has none
        ([{"sequence": 3, "action": "certified"}, {"sequence": 1, "action": "certified"},
          {"sequence": 2, "action": "certified"}], "decisions.0.sequence"),
        ([{"sequence": 1, "action": "partial", "reason": "less"},
          {"sequence": 2, "action": "certified"}], "decisions.0"),  # no approved_quantity
        ([{"sequence": 1, "action": "certified", "approved_quantity": 2},
          {"sequence": 2, "action": "certified"}], "decisions.0"),
        ([{"sequence": 1, "action": "approved"}, {"sequence": 2, "action": "certified"}],
         "decisions.0"),
    ]  # fmt: skip
    for decisions, field in cases:
        response = await _act(client, team, case["id"], "respond", decisions=decisions,
                              authorization=AUTH)  # fmt: skip
        assert response.status_code == 422, (decisions, response.text)
        found = response.json()["errors"][0]["field"].removeprefix("respond.")
        assert found.startswith(field), response.json()
    deny = [{"sequence": 1, "action": "not_certified", "reason": "no"},
            {"sequence": 2, "action": "not_certified", "reason": "no"}]  # fmt: skip
    with_auth = await _act(client, team, case["id"], "respond", decisions=deny, authorization=AUTH)
    assert with_auth.json()["errors"][0]["field"] == "authorization"
    asked = await _act(client, team, case["id"], "respond", decisions=deny, requested=[
        {"id": "x", "description": "more"}])  # fmt: skip
    assert asked.json()["errors"][0]["field"] == "requested"
    read = await client.get(f"{BASE}/{case['id']}", headers=team.agent)
    assert (read.json()["status"], read.json()["version"]) == ("submitted", 3)


async def test_replaying_the_events_rebuilds_every_row_exactly(
    client: httpx.AsyncClient, pool: Pool, clock: Clock, dba: Connection
) -> None:
    team, case, _ = await _submitted(client, pool, lines=[MRI, PT])
    clock.advance(days=1)
    await _act(client, team, case["id"], "extend", days=2, reason="peer review")
    await _act(client, team, case["id"], "respond", authorization=AUTH, decisions=[
        {"sequence": 1, "action": "certified"},
        {"sequence": 2, "action": "not_certified", "reason": "not covered"}])  # fmt: skip
    await _act(client, team, case["id"], "appeal", reason="the plan covers it")
    rows = await case_rows(pool, team.tenant)
    assert rows[0]["state"] == "appealed"
    report = await workflow_service.rebuild(pool, WORKFLOWS, tenant_id=team.tenant, check=True)
    assert (report.ok, report.cases) == (True, 1)
    await dba.execute(
        "UPDATE workflow_cases SET state = 'draft', data = '{}', payer_id = NULL "
        "WHERE case_id = %s",
        (case["id"],),
    )
    assert (await workflow_service.rebuild(pool, WORKFLOWS, tenant_id=team.tenant)).differed
    assert await case_rows(pool, team.tenant) == rows


async def test_an_open_case_is_an_open_item_of_the_context(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team, case, submitted = await _submitted(client, pool, urgency="expedited")
    patient = case["patient_id"]
    url = f"/patients/{patient}/context"
    context = (await client.get(url, headers=team.clinician)).json()
    [section] = [s for s in context["sections"] if s["name"] == "open_items"]
    [line] = section["lines"]
    assert case["id"] in line["text"]
    assert f"due {submitted.json()['due_at']}" in line["text"]
    assert "expedited prior authorization with Acme Health Plan: 70551" in line["text"]
    await _act(client, team, case["id"], "respond", authorization=AUTH, decisions=[
        {"sequence": 1, "action": "certified"}])  # fmt: skip
    after = (await client.get(url, headers=team.clinician)).json()
    [section] = [s for s in after["sections"] if s["name"] == "open_items"]
    assert section["lines"] == []


async def test_a_retried_decision_is_taken_once(
    client: httpx.AsyncClient, pool: Pool, clock: Clock
) -> None:
    team, case, _ = await _submitted(client, pool)
    body = {"action": "respond", "authorization": AUTH,
            "decisions": [{"sequence": 1, "action": "certified"}]}  # fmt: skip
    headers = team.agent | {"Idempotency-Key": "decision-1"}
    url = f"{BASE}/{case['id']}/actions"
    first = await client.post(url, json=body, headers=headers)
    again = await client.post(url, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["version"] == first.json()["version"]
    assert len(await transition_events(pool, team.tenant)) == first.json()["version"]
