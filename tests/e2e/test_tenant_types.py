"""Tenants register their own event types with a JSON Schema and may refuse the rest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import httpx
import pytest
from psycopg.types.json import Jsonb

from carelog.storage.db import Connection, Pool
from tests.factories import bearer, count_events, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

PRIOR_AUTH = {
    "type": "object",
    "properties": {
        "payer": {"type": "string"},
        "cpt": {"type": "string", "pattern": "^[0-9]{5}$"},
        "status": {"enum": ["submitted", "approved", "denied"]},
    },
    "required": ["payer", "status"],
}


async def test_registered_types_validate_and_others_can_be_refused(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    admin = bearer(await make_token(pool, tenant, "admin"))
    writer = bearer(await make_token(pool, tenant))
    registered = await client.put(
        "/event-types/prior_auth",
        json={"schema": PRIOR_AUTH, "description": "PA case"},
        headers=admin,
    )
    assert registered.status_code == 200, registered.text
    patient = new_patient()
    good = {
        "patient_id": patient,
        "event_type": "prior_auth",
        "payload": {"payer": "Acme Health", "cpt": "99213", "status": "submitted"},
    }
    assert (await client.post("/patient-events", json=good, headers=writer)).status_code == 200
    bad = {**good, "payload": {"payer": "Acme Health", "cpt": "SECRET-VALUE", "status": "maybe"}}
    refused = await client.post("/patient-events", json=bad, headers=writer)
    assert refused.status_code == 422
    fields = {e["field"] for e in refused.json()["errors"]}
    assert fields == {"payload.cpt", "payload.status"}
    assert "SECRET-VALUE" not in refused.text  # values are never echoed

    free = {**good, "event_type": "claim_action", "payload": {"anything": 1}}
    assert (await client.post("/patient-events", json=free, headers=writer)).status_code == 200
    policy = await client.put(
        "/event-type-policy", json={"reject_unregistered": True}, headers=admin
    )
    assert policy.json() == {"reject_unregistered": True}
    now_refused = await client.post("/patient-events", json=free, headers=writer)
    assert now_refused.status_code == 422
    assert now_refused.json()["errors"][0]["field"] == "event_type"
    # Built-in types stay accepted under the policy.
    lab = {**good, "event_type": "lab_result", "payload": {"test": "HbA1c", "value": 8.4}}
    assert (await client.post("/patient-events", json=lab, headers=writer)).status_code == 200
    assert await count_events(pool, tenant) == 3

    catalogue = (await client.get("/event-types", headers=writer)).json()
    assert [t["event_type"] for t in catalogue["tenant_types"]] == ["prior_auth"]
    assert catalogue["other_types"] == "refused"
    # Another tenant neither sees nor is bound by them.
    other = bearer(await make_token(pool, new_tenant()))
    theirs = (await client.get("/event-types", headers=other)).json()
    assert theirs["tenant_types"] == []
    assert (await client.post("/patient-events", json=bad, headers=other)).status_code == 200


async def test_registration_rules(client: httpx.AsyncClient, pool: Pool) -> None:
    tenant = new_tenant()
    admin = bearer(await make_token(pool, tenant, "admin"))
    writer = bearer(await make_token(pool, tenant))
    cases = [
        ("lab_result", {"schema": {"type": "object"}}, 409),
        ("x", {"schema": {"type": "nonsense"}}, 422),
        ("x", {"schema": {"type": "object"}, "colour": "blue"}, 422),
        ("bad type", {"schema": {"type": "object"}}, 422),
    ]
    for name, body, status in cases:
        response = await client.put(f"/event-types/{name}", json=body, headers=admin)
        assert response.status_code == status, (name, body, response.text)
    denied = await client.put("/event-types/x", json={"schema": {}}, headers=writer)
    assert denied.status_code == 403
    wrong_type = await client.put(
        "/event-types/x", content=b"schema", headers={**admin, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415


async def test_corrections_of_registered_types_are_checked_too(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    admin = bearer(await make_token(pool, tenant, "admin"))
    writer = bearer(await make_token(pool, tenant))
    await client.put("/event-types/prior_auth", json={"schema": PRIOR_AUTH}, headers=admin)
    body = {
        "patient_id": new_patient(),
        "event_type": "prior_auth",
        "payload": {"payer": "Acme Health", "status": "submitted"},
    }
    created = (await client.post("/patient-events", json=body, headers=writer)).json()
    bad = await client.post(
        f"/events/{created['id']}/corrections",
        json={"payload": {"payer": "Acme Health", "status": "lost"}, "reason": "update"},
        headers=writer,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "payload.status"
    good = await client.post(
        f"/events/{created['id']}/corrections",
        json={"payload": {"payer": "Acme Health", "status": "approved"}, "reason": "update"},
        headers=writer,
    )
    assert good.status_code == 200


class _Recorder(BaseHTTPRequestHandler):
    """Counts every request; a fetched schema would be the open-to-anything one."""

    hits: list[str] = []  # noqa: RUF012 -- shared with the test on purpose

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = b'{"type": "string"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A tiny local HTTP server standing in for an internal address; yields its URL and hits."""
    _Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.hits
    finally:
        server.shutdown()
        server.server_close()


def _field(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"]
    field: str = body["errors"][0]["field"]
    return field


async def test_references_resolve_inside_the_schema_and_nothing_is_fetched(
    client: httpx.AsyncClient, pool: Pool, listener: tuple[str, list[str]]
) -> None:
    url, hits = listener
    admin = bearer(await make_token(pool, new_tenant(), "admin"))
    remote = {"type": "object", "properties": {"payer": {"$ref": f"{url}/x"}}}
    refused = await client.put("/event-types/pa", json={"schema": remote}, headers=admin)
    assert _field(refused) == "schema.properties.payer.$ref"
    missing = {"properties": {"payer": {"$ref": "#/$defs/missing"}}, "$defs": {}}
    refused = await client.put("/event-types/pa", json={"schema": missing}, headers=admin)
    assert _field(refused) == "schema.properties.payer.$ref"
    dynamic = {"$dynamicRef": f"{url}/y#meta"}
    refused = await client.put("/event-types/pa", json={"schema": dynamic}, headers=admin)
    assert _field(refused) == "schema.$dynamicRef"
    local = {"properties": {"payer": {"$ref": "#/$defs/name"}}, "$defs": {"name": {}}}
    accepted = await client.put("/event-types/pa", json={"schema": local}, headers=admin)
    assert accepted.status_code == 200, accepted.text
    await asyncio.sleep(0.05)
    assert hits == []


async def test_patterns_run_in_linear_time_and_unsafe_ones_are_refused(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    admin = bearer(await make_token(pool, tenant, "admin"))
    writer = bearer(await make_token(pool, tenant))
    redos = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    assert (
        await client.put("/event-types/coded", json={"schema": redos}, headers=admin)
    ).status_code == 200
    body = {"patient_id": new_patient(), "event_type": "coded", "payload": {"code": "a" * 64 + "!"}}
    started = time.perf_counter()
    crafted = await client.post("/patient-events", json=body, headers=writer)
    assert time.perf_counter() - started < 1
    assert _field(crafted) == "payload.code"
    body["payload"] = {"code": "aaaa"}
    assert (await client.post("/patient-events", json=body, headers=writer)).status_code == 200

    for schema, field in [
        ({"properties": {"a": {"pattern": "(a)\\1"}}}, "schema.properties.a.pattern"),
        ({"patternProperties": {"^(?=x)": {}}}, "schema.patternProperties.^(?=x)"),
        ({"properties": {"a": {"pattern": "(?<!x)y"}}}, "schema.properties.a.pattern"),
        ({"pattern": "a" * 2000}, "schema.pattern"),
        ({"$schema": "http://json-schema.org/draft-04/schema#"}, "schema.$schema"),
        (  # jsonschema would run these patterns on Python's re for unevaluatedProperties
            {"patternProperties": {"^x": {}}, "unevaluatedProperties": False},
            "schema.unevaluatedProperties",
        ),
        (  # a second base URI: references would be checked against the wrong one
            {"properties": {"x": {"$id": "https://ex.invalid/sub", "$ref": "#/$defs/b"}}},
            "schema.properties.x.$id",
        ),
    ]:
        response = await client.put("/event-types/bad", json={"schema": schema}, headers=admin)
        assert _field(response) == field, schema


async def test_additional_properties_use_the_same_linear_patterns(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    """additionalProperties decides which keys the patterns leave over: with jsonschema's own
    that ran the patterns on Python's re (9 s for this key)."""
    tenant = new_tenant()
    admin = bearer(await make_token(pool, tenant, "admin"))
    writer = bearer(await make_token(pool, tenant))
    schema = {
        "patternProperties": {"^(a|a)+$": {}, "^[a-c]+$": {}},
        "additionalProperties": False,
    }
    assert (
        await client.put("/event-types/keyed", json={"schema": schema}, headers=admin)
    ).status_code == 200
    body = {"patient_id": new_patient(), "event_type": "keyed", "payload": {"a" * 26 + "!": 1}}
    started = time.perf_counter()
    crafted = await client.post("/patient-events", json=body, headers=writer)
    assert time.perf_counter() - started < 1
    assert crafted.status_code == 422
    body["payload"] = {"abc": 1, "aaa": 2}  # both RE2 patterns match: allowed
    assert (await client.post("/patient-events", json=body, headers=writer)).status_code == 200


async def test_schema_size_and_depth_are_bounded(client: httpx.AsyncClient, pool: Pool) -> None:
    admin = bearer(await make_token(pool, new_tenant(), "admin"))
    deep: dict[str, Any] = {"type": "object"}
    for _ in range(40):
        deep = {"properties": {"a": deep}}
    big = {"properties": {f"p{i}": {"description": "x" * 100} for i in range(1000)}}
    for schema in (deep, big):
        response = await client.put("/event-types/huge", json={"schema": schema}, headers=admin)
        assert _field(response) == "schema"


async def test_bad_schemas_stored_before_the_checks_are_a_problem_not_a_500(
    client: httpx.AsyncClient, pool: Pool, dba: Connection, listener: tuple[str, list[str]]
) -> None:
    url, hits = listener
    tenant = new_tenant()
    writer = bearer(await make_token(pool, tenant))
    stored = {
        "missing_ref": {"properties": {"a": {"$ref": "#/$defs/missing"}}},
        "remote_ref": {"$ref": f"{url}/x"},
        "backreference": {"properties": {"a": {"pattern": "(a)\\1"}}},
        "unknown_type": {"type": "nonsense"},
    }
    for name, schema in stored.items():
        await dba.execute(
            "INSERT INTO tenant_event_types (tenant_id, event_type, description, schema)"
            " VALUES (%s, %s, '', %s)",
            (tenant, name, Jsonb(schema)),
        )
    await dba.commit()
    patient = new_patient()
    for name in stored:
        body = {"patient_id": patient, "event_type": name, "payload": {"a": "aa"}}
        response = await client.post("/patient-events", json=body, headers=writer)
        assert _field(response) == "event_type", name
        assert response.json()["errors"][0]["type"] == "invalid_registered_schema"
    assert await count_events(pool, tenant) == 0
    assert hits == []
