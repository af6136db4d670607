"""No log line names a patient or repeats clinical content, whatever the request did."""

from __future__ import annotations

import logging

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import bearer, make_token, new_tenant

pytestmark = pytest.mark.e2e

PATIENT = "P-LOGCHECK-93"
SECRET_VALUE = "synthetic-diagnosis-xyzzy"


async def test_a_whole_scenario_logs_no_phi(
    client: httpx.AsyncClient, pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await make_token(pool, new_tenant())
    headers = bearer(token)
    body = {"patient_id": PATIENT, "event_type": "condition", "payload": {"dx": SECRET_VALUE}}
    created = await client.post("/patient-events", json=body, headers=headers)
    assert created.status_code == 200
    await client.post("/patient-events", json={**body, "occurred_at": "bad"}, headers=headers)
    await client.post("/patient-events", json={**body, "payload": [SECRET_VALUE]}, headers=headers)
    await client.get(f"/patient-events/{PATIENT}", headers=headers)
    await client.get(f"/patient-events/{PATIENT}?cursor={SECRET_VALUE}", headers=headers)
    await client.get(f"/patient-events/{PATIENT}")
    await client.get(f"/events/{created.json()['id']}", headers=headers)

    # The test's own HTTP client (httpx) logs the URLs it calls; the service's loggers may not.
    service = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(r.getMessage() for r in service)
    assert "carelog.access" in {r.name for r in caplog.records}
    assert PATIENT not in text
    assert SECRET_VALUE not in text
    assert token not in text


async def test_unexpected_errors_are_a_bare_500(
    client: httpx.AsyncClient,
    pool: Pool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from carelog.services import patient_events as event_service

    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"SELECT * FROM patient_events WHERE patient_id = '{PATIENT}'")

    monkeypatch.setattr(event_service, "get_event", explode)
    caplog.set_level(logging.DEBUG)
    headers = bearer(await make_token(pool, new_tenant()))
    response = await client.get("/events/1", headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal-error"
    assert response.headers["x-request-id"] == response.json()["request_id"]
    assert PATIENT not in response.text
    assert "SELECT" not in response.text
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("carelog"))
    assert "unhandled RuntimeError on GET /events/{event_id}" in logged
    assert PATIENT not in logged
