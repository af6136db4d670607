"""Every client-controlled field: bad input gets a clear 4xx problem and writes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from carelog.storage.db import Pool
from tests.factories import bearer, count_events, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

GOOD: dict[str, Any] = {"patient_id": "P-1", "event_type": "lab_result", "payload": {"v": 1}}


def _deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _with(**changes: Any) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


RAW_BODIES: list[tuple[str, bytes, int, str | None]] = [
    ("malformed json", b'{"patient_id": "P-1", ', 400, None),
    ("invalid utf-8", b'{"patient_id": "P-\xff\xfe", "event_type": "x", "payload": {}}', 400, None),
    ("json array", b"[1, 2, 3]", 422, None),
    ("empty body", b"", 422, None),
    (
        "10,000-deep payload",
        b'{"patient_id":"P-1","event_type":"x","payload":' + _deep(10_000).encode() + b"}",
        400,
        None,
    ),
    (
        "40-deep payload",
        b'{"patient_id":"P-1","event_type":"x","payload":' + _deep(40).encode() + b"}",
        422,
        "payload",
    ),
    ("payload is a list", _with(payload=[1, 2]), 422, "payload"),
    ("payload is a string", _with(payload="HbA1c 8.4"), 422, "payload"),
    (
        "payload missing",
        json.dumps({"patient_id": "P-1", "event_type": "x"}).encode(),
        422,
        "payload",
    ),
    ("NUL in payload", _with(payload={"note": "a\u0000b"}), 422, "payload"),
    ("NUL in payload key", _with(payload={"a\u0000": 1}), 422, "payload"),
    (
        "lone surrogate",
        b'{"patient_id":"P-1","event_type":"x","payload":{"a":"\\ud800"}}',
        400,
        None,
    ),
    ("infinite number", b'{"patient_id":"P-1","event_type":"x","payload":{"a":1e999}}', 400, None),
    ("patient id too long", _with(patient_id="P" * 65), 422, "patient_id"),
    ("patient id empty", _with(patient_id=""), 422, "patient_id"),
    ("patient id traversal", _with(patient_id="../../etc/passwd"), 422, "patient_id"),
    ("patient id SQL", _with(patient_id="P-1'; DROP TABLE patient_events;--"), 422, "patient_id"),
    ("patient id not a string", _with(patient_id=12), 422, "patient_id"),
    ("event type spaces", _with(event_type="lab result"), 422, "event_type"),
    ("event type too long", _with(event_type="x" * 65), 422, "event_type"),
    ("occurred_at naive", _with(occurred_at="2026-01-01T10:00:00"), 422, "occurred_at"),
    ("occurred_at garbage", _with(occurred_at="yesterday"), 422, "occurred_at"),
    ("occurred_at far future", _with(occurred_at="9999-01-01T00:00:00Z"), 422, "occurred_at"),
    ("source bad chars", _with(source="bot\n<script>"), 422, "source"),
    ("unknown field", _with(tenant_id="someone-else"), 422, "tenant_id"),
]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [pytest.param(b, s, f, id=name) for name, b, s, f in RAW_BODIES],
)
async def test_bad_bodies(
    client: httpx.AsyncClient, pool: Pool, body: bytes, status: int, field: str | None
) -> None:
    tenant = new_tenant()
    headers = {**bearer(await make_token(pool, tenant)), "Content-Type": "application/json"}
    response = await client.post("/patient-events", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("urn:carelog:problem:")
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]]
    # Nothing the client sent is echoed back.
    assert "etc/passwd" not in response.text
    assert "DROP TABLE" not in response.text
    assert await count_events(pool, tenant) == 0


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_non_json_is_415(
    client: httpx.AsyncClient, pool: Pool, content_type: str | None
) -> None:
    tenant = new_tenant()
    headers = bearer(await make_token(pool, tenant))
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await client.post("/patient-events", content=json.dumps(GOOD), headers=headers)
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported-media-type"
    assert await count_events(pool, tenant) == 0


async def test_json_with_charset_is_accepted(client: httpx.AsyncClient, pool: Pool) -> None:
    headers = bearer(await make_token(pool, new_tenant()))
    headers["Content-Type"] = "application/json; charset=utf-8"
    response = await client.post("/patient-events", content=json.dumps(GOOD), headers=headers)
    assert response.status_code == 200


async def test_body_over_limit_is_413(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = {**bearer(await make_token(pool, tenant)), "Content-Type": "application/json"}
    big = _with(payload={"text": "x" * (1024 * 1024)})
    response = await client.post("/patient-events", content=big, headers=headers)
    assert response.status_code == 413
    assert response.json()["code"] == "payload-too-large"

    async def stream() -> Any:
        for _ in range(11):
            yield b" " * (1024 * 1024)

    ten_mb = _with(payload={"text": "x" * (10 * 1024 * 1024)})
    declared = await client.post("/patient-events", content=ten_mb, headers=headers)
    assert declared.status_code == 413
    chunked = await client.post("/patient-events", content=stream(), headers=headers)
    assert chunked.status_code == 413
    assert await count_events(pool, tenant) == 0


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/patient-events/" + "P" * 65, "patient_id"),
        ("/patient-events/P%20x", "patient_id"),
        ("/patient-events/P-1%27%20OR%201=1--", "patient_id"),
        ("/patient-events/P-1?since=2026-01-01T00:00:00", "since"),
        ("/patient-events/P-1?until=not-a-date", "until"),
        ("/patient-events/P-1?event_type=bad%20type", "event_type"),
        ("/patient-events/P-1?cursor=garbage", "cursor"),
        ("/patient-events/P-1?cursor=" + "A" * 200, "cursor"),
        ("/events/abc", "event_id"),
        ("/events/0", "event_id"),
        ("/events/99999999999999999999999", "event_id"),
        ("/audit-events?action=drop", "action"),
        ("/audit-events?outcome=maybe", "outcome"),
        ("/audit-events?format=xml", "format"),
        ("/audit-events?limit=100000", "limit"),
        ("/audit-events?patient_id=..%2F..%2Fetc", "patient_id"),
        ("/audit-events?principal_id=" + "k" * 300, "principal_id"),
        ("/audit-events?since=yesterday", "since"),
        ("/audit-events?break_glass=perhaps", "break_glass"),
    ],
)
async def test_bad_read_parameters_are_422(
    client: httpx.AsyncClient, pool: Pool, path: str, field: str
) -> None:
    headers = bearer(await make_token(pool, new_tenant(), "events:read", "audit:read"))
    response = await client.get(path, headers=headers)
    assert response.status_code == 422, response.text
    assert field in [e["field"].split(".")[0] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    "path", ["/patient-events/../../etc/passwd", "/events/..%2F..%2Fetc%2Fpasswd"]
)
async def test_path_traversal_in_route_is_404(
    client: httpx.AsyncClient, pool: Pool, path: str
) -> None:
    headers = bearer(await make_token(pool, new_tenant()))
    response = await client.get(path, headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_bad_idempotency_key_is_422(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = bearer(await make_token(pool, tenant))
    for key in ["k" * 256, "has space", "tab\tkey"]:
        response = await client.post(
            "/patient-events",
            json={**GOOD, "patient_id": new_patient()},
            headers={**headers, "Idempotency-Key": key},
        )
        assert response.status_code == 422, key
        assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await count_events(pool, tenant) == 0


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nope")).status_code == 404
    response = await client.delete("/patient-events")
    assert response.status_code == 405
    assert response.json()["code"] == "method-not-allowed"


async def test_huge_headers_are_431(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = {**bearer(await make_token(pool, tenant)), "X-Filler": "a" * 40_000}
    response = await client.post("/patient-events", json=GOOD, headers=headers)
    assert response.status_code == 431
    assert response.headers["content-type"] == "application/problem+json"
    assert await count_events(pool, tenant) == 0
