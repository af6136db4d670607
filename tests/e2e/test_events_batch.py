"""POST /patient-events/batch: many events in one request, all or nothing, over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from carelog.domain.principals import ApiKeyCreate
from carelog.services.auth.keys import issue_key
from carelog.storage.db import Pool, connection
from tests.factories import audit_rows, bearer, count_events, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

BATCH = "/patient-events/batch"
NDJSON = {"Content-Type": "application/x-ndjson"}


def _lab(patient: str, value: float, **extra: Any) -> dict[str, Any]:
    return {
        "patient_id": patient,
        "event_type": "lab_result",
        "occurred_at": f"2026-01-0{1 + int(value) % 9}T08:00:00Z",
        "payload": {"loinc": "4548-4", "test": "HbA1c", "value": value, "unit": "%"},
        **extra,
    }


def _vitals(patient: str, pulse: int) -> dict[str, Any]:
    return {
        "patient_id": patient,
        "event_type": "vital_signs",
        "payload": {
            "heart_rate": {"value": pulse, "unit": "/min"},
            "blood_pressure": {"systolic": 120, "diastolic": 80},
        },
    }


def _ndjson(items: list[Any]) -> bytes:
    return b"\n".join(orjson.dumps(item) for item in items) + b"\n"


async def _headers(pool: Pool, tenant: str) -> dict[str, str]:
    return bearer(await make_token(pool, tenant))


async def _versions(pool: Pool, tenant: str) -> dict[str, int]:
    async with connection(pool, tenant) as conn:
        cur = await conn.execute(
            "SELECT patient_id, version FROM patient_heads WHERE tenant_id = %s", (tenant,)
        )
        return {patient: int(version) for patient, version in await cur.fetchall()}


async def test_a_json_array_is_stored_in_order_with_versions_and_an_audit_row_a_patient(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = await _headers(pool, tenant)
    one, two = new_patient(), new_patient()
    items = [_lab(one, 7.1), _vitals(two, 70), _lab(two, 8.2), _lab(one, 6.4), _vitals(one, 88)]
    response = await client.post(BATCH, json=items, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["created"] == 5
    assert answer["replayed"] == []
    ids = answer["ids"]
    assert len(set(ids)) == 5
    for item, event_id in zip(items, ids, strict=True):
        event = (await client.get(f"/events/{event_id}", headers=headers)).json()
        assert event["patient_id"] == item["patient_id"]
        assert event["payload"] == item["payload"]
        assert event["recorded_by"]
    assert await count_events(pool, tenant) == 5
    assert await _versions(pool, tenant) == {one: 3, two: 2}
    # One audit row a patient, naming the patient and its events in the batch's order, so
    # that the patient's accounting of writes finds them.
    rows = [r for r in await audit_rows(pool, tenant) if r["route"] == BATCH]
    assert [(r["action"], r["outcome"]) for r in rows] == [("create", "success")] * 2
    assert {r["patient_id"]: r["event_ids"] for r in rows} == {
        one: [ids[0], ids[3], ids[4]],
        two: [ids[1], ids[2]],
    }
    assert [r["result_count"] for r in rows] == [len(r["event_ids"]) for r in rows]
    assert len({r["request_id"] for r in rows}) == 1
    auditor = bearer(await make_token(pool, tenant, "audit:read"))
    listed = await client.get(f"/audit-events?patient_id={two}&action=create", headers=auditor)
    assert [(r["action"], r["event_ids"]) for r in listed.json()] == [("create", [ids[1], ids[2]])]
    # The context sees the batch: the newest pulse of each patient, the latest lab result.
    context = await client.get(f"/patients/{one}/context", headers=headers)
    assert context.status_code == 200, context.text
    assert "88" in context.text


async def test_ndjson_is_stored_and_a_one_patient_batch_names_the_patient(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = {**await _headers(pool, tenant), **NDJSON}
    patient = new_patient()
    body = _ndjson([_lab(patient, 5.0), _lab(patient, 5.5)]) + b"\n"  # a blank line is skipped
    response = await client.post(BATCH, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    assert await _versions(pool, tenant) == {patient: 2}
    [row] = [r for r in await audit_rows(pool, tenant) if r["route"] == BATCH]
    assert row["patient_id"] == patient


async def test_stored_events_are_found_by_search(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = await _headers(pool, tenant)
    patient = new_patient()
    note = {
        "patient_id": patient,
        "event_type": "triage_note",
        "payload": {"text": "Wheezing after exertion, inhaler helps."},
    }
    response = await client.post(BATCH, json=[note, _lab(patient, 9.1)], headers=headers)
    assert response.status_code == 200, response.text
    found = await client.get("/search", params={"q": "wheezing"}, headers=headers)
    assert found.status_code == 200, found.text
    assert response.json()["ids"][0] in [e["id"] for e in found.json()]
    coded = await client.get("/search", params={"code": "loinc:4548-4"}, headers=headers)
    assert coded.status_code == 200, coded.text
    assert response.json()["ids"][1] in [e["id"] for e in coded.json()]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"patient_id": "P-1"}', "application/json", 422, "validation-failed"),
        (b"[]", "application/json", 422, "validation-failed"),
        (b"[{", "application/json", 400, "bad-request"),
        (b'[{"a": 1, "a": 2}]', "application/json", 400, "bad-request"),
        (b"[]", "text/plain", 415, "unsupported-media-type"),
    ],
)
async def test_bad_bodies_are_refused(
    client: httpx.AsyncClient,
    pool: Pool,
    body: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    tenant = new_tenant()
    headers = {**await _headers(pool, tenant), "Content-Type": content_type}
    response = await client.post(BATCH, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert await count_events(pool, tenant) == 0


async def test_a_broken_ndjson_line_in_the_middle_is_named_and_nothing_stored(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = {**await _headers(pool, tenant), **NDJSON}
    patient = new_patient()
    body = _ndjson([_lab(patient, 5.0)]) + b'{"patient_id": "P-1", \n' + _ndjson([_lab(patient, 6)])
    response = await client.post(BATCH, content=body, headers=headers)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "bad-request"
    assert "Line 2" in problem["detail"]
    assert problem["errors"][0]["line"] == 2
    assert await count_events(pool, tenant) == 0


async def test_a_bad_item_in_the_middle_stores_nothing_and_each_failure_is_named(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = await _headers(pool, tenant)
    patient = new_patient()
    bad_lab = _lab(patient, 1.0)
    bad_lab["payload"]["loinc"] = "not a loinc"
    unknown = {"patient_id": patient, "event_type": "lab_result", "payload": {}, "extra": 1}
    items = [_lab(patient, 5.0), bad_lab, _lab(patient, 6.0), unknown, _lab(patient, 7.0)]
    for content, extra in ((orjson.dumps(items), {}), (_ndjson(items), NDJSON)):
        response = await client.post(
            BATCH, content=content, headers={**headers, "Content-Type": "application/json", **extra}
        )
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["failed_items"] == 2
        pointers = [(e["index"], e["pointer"]) for e in problem["errors"]]
        assert pointers == [(1, "/1/payload/loinc"), (3, "/3/extra")]
        if extra:
            assert [e["line"] for e in problem["errors"]] == [2, 4]
    assert await count_events(pool, tenant) == 0
    assert await _versions(pool, tenant) == {}
    # Each refused batch is audited as a failed attempt (by the request middleware).
    rows = [r for r in await audit_rows(pool, tenant) if r["route"] == BATCH]
    assert [(r["action"], r["outcome"], r["status"]) for r in rows] == [
        ("create", "failed", 422)
    ] * 2
    assert all(r["event_ids"] == [] for r in rows)


async def test_an_unregistered_type_is_refused_when_the_tenant_refuses_them(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = bearer(await make_token(pool, tenant, "events:read", "events:write", "admin"))
    policy = await client.put(
        "/event-type-policy", json={"reject_unregistered": True}, headers=headers
    )
    assert policy.is_success, policy.text
    patient = new_patient()
    other = {"patient_id": patient, "event_type": "made_up", "payload": {"a": 1}}
    response = await client.post(BATCH, json=[_lab(patient, 5.0), other], headers=headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["index"], error["type"]) == (1, "unregistered_event_type")
    assert await count_events(pool, tenant) == 0


async def test_a_registered_type_is_held_to_its_schema_item_by_item(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = bearer(await make_token(pool, tenant, "events:read", "events:write", "admin"))
    schema = {
        "type": "object",
        "properties": {"payer": {"type": "string"}, "cpt": {"pattern": "^[0-9]{5}$"}},
        "required": ["payer"],
    }
    registered = await client.put(
        "/event-types/prior_auth", json={"schema": schema}, headers=headers
    )
    assert registered.status_code == 200, registered.text
    patient = new_patient()

    def case(payload: dict[str, Any]) -> dict[str, Any]:
        return {"patient_id": patient, "event_type": "prior_auth", "payload": payload}

    good = case({"payer": "Acme Health", "cpt": "99213"})
    items = [good, _lab(patient, 5.0), case({"cpt": "SECRET-VALUE"}), good]
    response = await client.post(BATCH, content=_ndjson(items), headers={**headers, **NDJSON})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert {(e["index"], e["line"], e["pointer"]) for e in errors} == {
        (2, 3, "/2/payload/cpt"),
        (2, 3, "/2/payload"),  # the object missing "payer"
    }
    assert "SECRET-VALUE" not in response.text
    assert await count_events(pool, tenant) == 0

    stored = await client.post(BATCH, json=[good, _lab(patient, 5.0), good], headers=headers)
    assert stored.status_code == 200, stored.text
    assert stored.json()["created"] == 3
    listed = await client.get(
        f"/patient-events/{patient}", params={"event_type": "prior_auth"}, headers=headers
    )
    assert [e["payload"] for e in listed.json()] == [good["payload"]] * 2


async def test_a_patient_limited_key_cannot_batch_for_another_patient(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    mine, other = new_patient(), new_patient()
    limited = await issue_key(
        pool,
        ApiKeyCreate(
            tenant_id=tenant, scopes=frozenset({"patient/*.cruds"}), patients=frozenset({mine})
        ),
    )
    items = [_lab(mine, 5.0), _lab(other, 6.0)]
    response = await client.post(BATCH, json=items, headers=bearer(limited.token))
    assert response.status_code == 403, response.text
    assert [e["index"] for e in response.json()["errors"]] == [1]
    assert await count_events(pool, tenant) == 0
    written = await client.post(BATCH, json=items[:1], headers=bearer(limited.token))
    assert written.status_code == 200, written.text


async def test_read_only_key_is_403(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = bearer(await make_token(pool, tenant, "events:read"))
    response = await client.post(BATCH, json=[_lab(new_patient(), 5.0)], headers=headers)
    assert response.status_code == 403
    assert await count_events(pool, tenant) == 0


async def test_over_the_count_is_413(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = await _headers(pool, tenant)
    item = {"patient_id": "P-1", "event_type": "x", "payload": {}}
    response = await client.post(BATCH, json=[item] * 10_001, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload-too-large"
    assert response.json()["max_events"] == 10_000
    assert await count_events(pool, tenant) == 0


async def test_over_the_size_is_413(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = {**await _headers(pool, tenant), "Content-Type": "application/json"}
    response = await client.post(BATCH, content=b" " * (16 * 1024 * 1024 + 1), headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["type"] == "urn:carelog:problem:payload-too-large"
    # A body over the other routes' 1 MiB but under the batch limit is read.
    item = {"patient_id": new_patient(), "event_type": "x", "payload": {"t": "y" * 900}}
    big = await client.post(BATCH, json=[item] * 1500, headers=headers)
    assert big.status_code == 200, big.text
    assert await count_events(pool, tenant) == 1500


async def test_idempotency_keys_replay_per_item(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = await _headers(pool, tenant)
    patient = new_patient()
    first = [_lab(patient, 5.0, idempotency_key="k-1"), _lab(patient, 6.0)]
    stored = (await client.post(BATCH, json=first, headers=headers)).json()
    again = [
        _lab(patient, 7.0, idempotency_key="k-2"),
        _lab(patient, 5.0, idempotency_key="k-1"),
    ]
    response = await client.post(BATCH, json=again, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["created"] == 1
    assert answer["replayed"] == [1]
    assert answer["ids"][1] == stored["ids"][0]
    assert await count_events(pool, tenant) == 3
    assert await _versions(pool, tenant) == {patient: 3}
    # A key of the single route is the same key here, and the other way round.
    single = await client.post(
        "/patient-events", json=_lab(patient, 7.0), headers={**headers, "Idempotency-Key": "k-2"}
    )
    assert single.headers.get("idempotent-replayed") == "true"
    assert single.json()["id"] == answer["ids"][0]


async def test_a_key_reused_with_another_event_is_409_and_nothing_stored(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = await _headers(pool, tenant)
    patient = new_patient()
    await client.post(BATCH, json=[_lab(patient, 5.0, idempotency_key="k")], headers=headers)
    changed = [_lab(patient, 1.0), _lab(patient, 5.5, idempotency_key="k")]
    response = await client.post(BATCH, json=changed, headers=headers)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "idempotency-key-reused"
    assert [e["index"] for e in response.json()["errors"]] == [1]
    assert await count_events(pool, tenant) == 1


async def test_a_key_repeated_within_a_batch_is_422(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    headers = await _headers(pool, tenant)
    patient = new_patient()
    items = [_lab(patient, 5.0, idempotency_key="k"), _lab(patient, 5.0, idempotency_key="k")]
    response = await client.post(BATCH, json=items, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["type"] == "idempotency_key_repeated"
    assert await count_events(pool, tenant) == 0


async def test_another_tenant_sees_none_of_the_batch(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant, stranger = new_tenant(), new_tenant()
    patient = new_patient()
    stored = await client.post(
        BATCH,
        json=[_lab(patient, 5.0, idempotency_key="shared")],
        headers=await _headers(pool, tenant),
    )
    event_id = stored.json()["ids"][0]
    other = await _headers(pool, stranger)
    assert (await client.get(f"/events/{event_id}", headers=other)).status_code == 404
    listed = await client.get(f"/patient-events/{patient}", headers=other)
    assert listed.status_code == 404 or listed.json() == []
    # The same key in another tenant is another key.
    mine = await client.post(
        BATCH, json=[_lab(patient, 5.0, idempotency_key="shared")], headers=other
    )
    assert mine.json()["replayed"] == []
    assert await count_events(pool, stranger) == 1


@pytest.mark.parametrize(
    "text",
    [b'"a\\u0000b"', b'"' + b"y" * 100_001 + b'"'],
    ids=["nul", "too-long"],
)
async def test_payload_text_rules_hold_in_a_batch(
    client: httpx.AsyncClient, pool: Pool, text: bytes
) -> None:
    tenant = new_tenant()
    headers = {**await _headers(pool, tenant), **NDJSON}
    good = orjson.dumps(_lab(new_patient(), 5.0))
    bad = b'{"patient_id": "P-1", "event_type": "x", "payload": {"t": ' + text + b"}}"
    response = await client.post(BATCH, content=good + b"\n" + bad, headers=headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["index"], error["line"], error["pointer"]) == (1, 2, "/1/payload")
    assert await count_events(pool, tenant) == 0


async def test_a_repeated_key_in_an_ndjson_line_is_named(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = {**await _headers(pool, tenant), **NDJSON}
    good = orjson.dumps(_lab(new_patient(), 5.0))
    repeated = b'{"patient_id": "P-1", "event_type": "x", "payload": {"a": 1, "a": 2}}'
    response = await client.post(BATCH, content=b"\n".join([good, repeated, good]), headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["line"] == 2
    assert await count_events(pool, tenant) == 0


async def test_an_offset_postgresql_cannot_hold_is_stored_in_utc(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = await _headers(pool, tenant)
    item = {**_lab(new_patient(), 5.0), "occurred_at": "1933-05-13T22:41:14-21:06"}
    response = await client.post(BATCH, json=[item], headers=headers)
    assert response.status_code == 200, response.text
    event = await client.get(f"/events/{response.json()['ids'][0]}", headers=headers)
    assert event.json()["occurred_at"] == "1933-05-14T19:47:14.000000Z"


async def test_concurrent_batches_with_the_same_keys_store_each_event_once(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    headers = await _headers(pool, tenant)
    patients = [new_patient() for _ in range(3)]
    items = [_lab(p, 5.0 + n, idempotency_key=f"c-{n}") for n, p in enumerate(patients * 20)]
    answers = await asyncio.gather(
        *(client.post(BATCH, json=items, headers=headers) for _ in range(4))
    )
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert sorted(b["created"] for b in bodies) == [0, 0, 0, 60]
    assert all(b["ids"] == bodies[0]["ids"] for b in bodies)
    assert await count_events(pool, tenant) == 60
    assert await _versions(pool, tenant) == dict.fromkeys(patients, 20)
