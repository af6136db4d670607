"""The SDK against the service over real HTTP (no mocks): typed results, pages followed,
retries that write exactly once, 429 honoured, the server's errors as its exception classes,
workflows with If-Match handled; the sync client as the async one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carelog.api.app import create_app
from carelog.client import (
    AsyncClient,
    Client,
    NotFound,
    PreconditionFailed,
    RetryPolicy,
    TransitionNotAllowed,
    ValidationFailed,
)
from carelog.domain.context.model import PatientContext
from carelog.domain.events import PatientEvent
from carelog.domain.subscriptions import WebhookTargetRefused
from carelog.settings import Settings
from carelog.storage.db import Pool
from tests.e2e.live_server import serve
from tests.factories import count_events, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

EVERYTHING = ("events:read", "events:write", "workflows:read", "workflows:write", "audit:read")
FAST = RetryPolicy(attempts=5, base=0.05, cap=0.5, total=20)


class _Slow:
    """The app, holding back the answer of the first ``POST /patient-events`` it is told to
    (after the service has committed it) for longer than the client waits: a server-side
    timeout as the client sees it. Counts the answers by status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.hold = 0
        self.statuses: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held = self.hold > 0 and scope["method"] == "POST" and scope["path"] == "/patient-events"
        if held:
            self.hold -= 1

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append(message["status"])
                if held:
                    await asyncio.sleep(1.5)
            await send(message)

        await self.app(scope, receive, answer)


@pytest.fixture(scope="module")
def slow(settings: Settings) -> Iterator[tuple[_Slow, str]]:
    off = {"rate_limit_per_second": 0, "auth_failure_rate_per_second": 0, "access_log": False,
           "export_workers": 1, "export_poll_seconds": 0.05}  # fmt: skip
    app = _Slow(create_app(settings.model_copy(update=off)))
    with serve(app) as url:
        yield app, url


@pytest.fixture(scope="module")
def limited(settings: Settings) -> Iterator[tuple[_Slow, str]]:
    # Two requests a second per principal, a burst of two: the third at once is a 429.
    rates = {"rate_limit_per_second": 2, "rate_limit_burst": 2, "access_log": False}
    app = _Slow(create_app(settings.model_copy(update=rates)))
    with serve(app) as url:
        yield app, url


def _note(patient: str, text: str = "synthetic note") -> dict[str, Any]:
    return {"patient_id": patient, "event_type": "note", "payload": {"text": text}}


async def test_a_retry_after_a_server_side_timeout_writes_exactly_one_event(
    slow: tuple[_Slow, str], pool: Pool
) -> None:
    app, url = slow
    tenant = new_tenant()
    token = await make_token(pool, tenant, *EVERYTHING)
    app.hold = 1
    async with AsyncClient(url, token, timeout=0.5, retry=FAST) as carelog:
        event = await carelog.record_event(_note(new_patient()))
    assert isinstance(event, PatientEvent)
    assert await count_events(pool, tenant) == 1
    # The first try was answered too late; the second is the stored answer to the first.
    assert app.statuses[-2:] == [200, 200]


async def test_429_is_waited_out_as_retry_after_says(
    limited: tuple[_Slow, str], pool: Pool
) -> None:
    app, url = limited
    tenant = new_tenant()
    token = await make_token(pool, tenant, *EVERYTHING)
    patient = new_patient()
    async with AsyncClient(url, token, retry=FAST) as carelog:
        written = [await carelog.record_event(_note(patient, f"n{i}")) for i in range(5)]
    assert len({e.id for e in written}) == 5
    assert 429 in app.statuses
    assert await count_events(pool, tenant) == 5


async def test_never_a_retry_on_other_4xx(slow: tuple[_Slow, str], pool: Pool) -> None:
    app, url = slow
    token = await make_token(pool, new_tenant(), *EVERYTHING)
    async with AsyncClient(url, token, retry=FAST) as carelog:
        before = len(app.statuses)
        with pytest.raises(NotFound) as missing:
            await carelog.get_event(999_999_999)
        assert len(app.statuses) == before + 1
        assert (missing.value.status, missing.value.code) == (404, "not-found")
        with pytest.raises(ValidationFailed) as refused:
            [case async for case in carelog.list_cases("escalation", status=["nope"])]
        assert refused.value.errors is not None
        assert refused.value.errors[0]["field"].startswith("status")
        assert len(app.statuses) == before + 2


async def test_pages_are_followed_and_every_event_comes_once(
    slow: tuple[_Slow, str], pool: Pool
) -> None:
    _, url = slow
    token = await make_token(pool, new_tenant(), *EVERYTHING)
    patient = new_patient()
    async with AsyncClient(url, token, retry=FAST) as carelog:
        written = await carelog.record_events([_note(patient, f"n{i}") for i in range(23)])
        assert written
        seen = [event.id async for event in carelog.list_events(patient, limit=5)]
        assert len(seen) == len(set(seen)) == 23
        context = await carelog.get_context(patient)
        assert isinstance(context, PatientContext)
        markdown = await carelog.get_context_markdown(patient, max_tokens=200)
        assert markdown.startswith("#")


async def test_a_workflow_moved_with_if_match_handled(slow: tuple[_Slow, str], pool: Pool) -> None:
    _, url = slow
    tenant = new_tenant()
    agent = await make_token(pool, tenant, *EVERYTHING)
    async with AsyncClient(url, agent, retry=FAST) as carelog:
        task = await carelog.open_case(
            "care_task",
            {"patient_id": new_patient(), "description": "call the patient", "assignee": "rn"},
        )
        moved = await carelog.act("care_task", task, "reassign", assignee="pharmacist")
        assert moved.version == 2
        # The task as first read is stale now: its If-Match is refused, nothing lost.
        with pytest.raises(PreconditionFailed) as stale:
            await carelog.act("care_task", task, "reassign", assignee="dietitian")
        assert stale.value.extensions["current_version"] == 2
        with pytest.raises(TransitionNotAllowed) as refused:
            await carelog.act("care_task", moved.id, "complete")
        assert "cancel" in refused.value.extensions["allowed"]
        queue = [case.id async for case in carelog.list_cases("care_task", assignee="pharmacist")]
        assert queue == [task.id]
        trail = [row async for row in carelog.audit_events()]
        assert trail
        assert (await carelog.verify_audit()).ok


def _sync_run(url: str, token: str, patient: str) -> tuple[list[int], int]:
    with Client(url, token, retry=FAST) as carelog:
        for i in range(7):
            carelog.record_event(_note(patient, f"n{i}"))
        seen = [event.id for event in carelog.list_events(patient, limit=3)]
        case = carelog.open_case(
            "escalation", {"patient_id": patient, "severity": "routine", "reason": "synthetic"}
        )
        moved = carelog.act("escalation", case, "comment", comment="seen")
        return seen, moved.version


async def test_the_sync_client_does_the_same(slow: tuple[_Slow, str], pool: Pool) -> None:
    _, url = slow
    token = await make_token(pool, new_tenant(), *EVERYTHING)
    seen, version = await asyncio.to_thread(_sync_run, url, token, new_patient())
    assert len(seen) == len(set(seen)) == 7
    assert version == 2


async def test_fhir_in_and_out(slow: tuple[_Slow, str], pool: Pool) -> None:
    _, url = slow
    token = await make_token(pool, new_tenant(), *EVERYTHING)
    patient = new_patient()
    observation = {
        "resourceType": "Observation",
        "id": f"obs-{patient}",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                  "observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-01-05T08:00:00Z",
        "valueQuantity": {"value": 7.1, "unit": "%", "system": "http://unitsofmeasure.org",
                          "code": "%"},
    }  # fmt: skip
    async with AsyncClient(url, token, retry=FAST) as carelog:
        outcome = await carelog.fhir_import_ndjson([{"resourceType": "Patient", "id": patient},
                                                    observation])  # fmt: skip
        assert outcome["resourceType"] == "OperationOutcome"
        bundle = await carelog.patient_fhir(patient)
        kinds = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
        assert "Observation" in kinds
        status = await carelog.fhir_export(types=["Observation"])
        manifest = None
        for _ in range(200):
            manifest = await carelog.fhir_export_status(status)
            if manifest is not None:
                break
            await asyncio.sleep(0.1)
        assert manifest is not None
        [part] = manifest["output"]
        assert "4548-4" in await carelog.fhir_export_file(part["url"])


async def test_live_events_resume_from_their_position(slow: tuple[_Slow, str], pool: Pool) -> None:
    _, url = slow
    token = await make_token(pool, new_tenant(), *EVERYTHING)
    patient = new_patient()
    async with AsyncClient(url, token, retry=FAST) as writer, AsyncClient(url, token) as reader:

        async def take(count: int, last: str | None) -> list[tuple[str, PatientEvent]]:
            got: list[tuple[str, PatientEvent]] = []
            async for item in reader.stream_events(patient_id=[patient], last_event_id=last):
                got.append(item)
                if len(got) == count:
                    break
            return got

        # (A stream without a position starts at the live end; "0-0" is the log's start.)
        first = [await writer.record_event(_note(patient, f"a{i}")) for i in range(3)]
        seen = await asyncio.wait_for(take(3, "0-0"), timeout=20)
        assert [event.id for _, event in seen] == [e.id for e in first]
        # Gone for a while: two more are written; from the last position, exactly those.
        later = [await writer.record_event(_note(patient, f"b{i}")) for i in range(2)]
        resumed = await asyncio.wait_for(take(2, seen[-1][0]), timeout=20)
        assert [event.id for _, event in resumed] == [e.id for e in later]


async def test_subscriptions_through_the_sdk(slow: tuple[_Slow, str], pool: Pool) -> None:
    _, url = slow
    admin = await make_token(pool, new_tenant(), "admin")
    async with AsyncClient(url, admin, retry=FAST) as carelog:
        with pytest.raises(WebhookTargetRefused) as refused:
            await carelog.create_subscription("http://127.0.0.1:9/hook")
        assert refused.value.code == "webhook-target-refused"
        # (A public address as an IP literal: nothing to resolve; no worker sends in tests.)
        created = await carelog.create_subscription(
            "https://93.184.216.34/hook", event_types=["note"], description="synthetic"
        )
        assert created.secret.startswith("whsec_")
        [listed] = await carelog.subscriptions()
        assert listed.id == created.id
        assert "secret" not in listed.model_dump()
        assert [d async for d in carelog.deliveries(str(created.id))] == []
        gone = await carelog.deactivate_subscription(str(created.id))
        assert gone.active is False
