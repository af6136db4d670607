"""Who may do what through MCP, exactly as through REST: 401 with WWW-Authenticate and the
RFC 9728 metadata, a missing scope (a tool error, audited as denied), another tenant's
patient and a patient outside the key's list (not found), bad arguments (a clear tool
error naming the fields, never their values, audited as failed), read-only mode and the
allow-list."""

from __future__ import annotations

import httpx2
import pytest
from fastapi import FastAPI

from carelog.api.app import create_app
from carelog.domain.principals import PrincipalKind
from carelog.settings import Settings
from carelog.storage.db import Pool
from tests.e2e.mcp_kit import BASE_URL, body, error, mcp_client, text
from tests.factories import (
    audit_rows,
    bearer,
    client_address,
    count_events,
    make_key,
    new_patient,
    new_tenant,
)

pytestmark = pytest.mark.e2e


async def test_no_token_is_401_pointing_at_the_metadata(app: FastAPI) -> None:
    transport = httpx2.ASGITransport(app=app, client=client_address())
    async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        for headers in ({}, {"Authorization": "Bearer clk_not_a_key"}, {"Authorization": "x"}):
            refused = await http.post("/mcp", json=call, headers=headers)
            assert refused.status_code == 401
            challenge = refused.headers["www-authenticate"]
            assert challenge.startswith('Bearer error="invalid_token"')
            assert (
                'resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp"'
                in challenge
            )
        metadata = await http.get("/.well-known/oauth-protected-resource/mcp")
        openapi = await http.get("/openapi.json")
    assert metadata.status_code == 200
    assert metadata.json() == {
        "resource": "http://127.0.0.1:8000/mcp",
        "authorization_servers": ["http://127.0.0.1:8000/"],
        "bearer_methods_supported": ["header"],
    }
    # /mcp is the SDK's, not a REST route: the OpenAPI document leaves it out.
    assert not [path for path in openapi.json()["paths"] if "mcp" in path]


async def test_a_missing_scope_is_a_tool_error_and_audited(app: FastAPI, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    reader = await make_key(pool, tenant, "events:read")
    async with mcp_client(app, reader) as mcp:
        refused = error(await mcp.call_tool("record_event", {
            "patient_id": patient, "event_type": "note", "payload": {"text": "hello"},
        }))  # fmt: skip
        queue = error(await mcp.call_tool("list_escalations", {}))
    assert (refused["code"], refused["status"]) == ("forbidden", 403)
    assert "events:write" in refused["detail"]
    assert queue["code"] == "forbidden"
    assert await count_events(pool, tenant) == 0
    rows = await audit_rows(pool, tenant)
    seen = [(r["route"], r["action"], r["outcome"], r["status"], r["patient_id"]) for r in rows]
    assert seen == [
        ("mcp tools/call record_event", "create", "denied", 403, patient),
        ("mcp tools/call list_escalations", "search", "denied", 403, None),
    ]


async def test_another_tenants_patient_is_not_found(app: FastAPI, pool: Pool) -> None:
    patient = new_patient()
    owner = await make_key(pool, new_tenant(), "events:read", "events:write")
    other_tenant = new_tenant()
    other = await make_key(pool, other_tenant, "events:read", "events:write")
    limited = await make_key(
        pool, new_tenant(), "events:read", patients=frozenset({"P-someone-else"})
    )
    async with mcp_client(app, owner) as mcp:
        body(await mcp.call_tool("record_event", {
            "patient_id": patient, "event_type": "note", "payload": {"text": "mine"},
        }))  # fmt: skip
    async with mcp_client(app, other) as mcp:
        context = error(await mcp.call_tool("get_patient_context", {"patient_id": patient}))
        listed = error(await mcp.call_tool("list_patient_events", {"patient_id": patient}))
        found = body(await mcp.call_tool("search_events", {"q": "mine"}))
        with pytest.raises(Exception, match="not-found"):
            await mcp.read_resource(f"carelog://patients/{patient}/context")
    async with mcp_client(app, limited) as mcp:
        beyond = error(await mcp.call_tool("get_patient_context", {"patient_id": patient}))
    assert (context["code"], listed["code"], beyond["code"]) == ("not-found",) * 3
    assert found["events"] == []
    rows = await audit_rows(pool, other_tenant)
    assert [(r["route"], r["outcome"], r["status"], r["patient_id"]) for r in rows] == [
        ("mcp tools/call get_patient_context", "failed", 404, patient),
        ("mcp tools/call list_patient_events", "failed", 404, patient),
        ("mcp tools/call search_events", "success", None, None),
        ("mcp resources/read carelog://patients/", "failed", 404, patient),
    ]


async def test_bad_arguments_are_a_clear_tool_error(app: FastAPI, pool: Pool) -> None:
    tenant = new_tenant()
    writer = await make_key(pool, tenant, "events:read", "events:write")
    secret = "SSN-123-45-6789"
    async with mcp_client(app, writer) as mcp:
        bad = await mcp.call_tool("record_event", {
            "patient_id": f"bad id {secret}", "event_type": "note", "payload": secret,
        })  # fmt: skip
        typed = await mcp.call_tool("record_event", {
            "patient_id": new_patient(), "event_type": "lab_result",
            "payload": {"loinc": secret, "value": 1},
        })  # fmt: skip
        missing = await mcp.call_tool("retract_event", {"event_id": 1})
        unknown = await mcp.call_tool("drop_table", {})
        still = await mcp.call_tool("search_events", {"q": "anything"})
    problem = error(bad)
    assert problem["code"] == "validation-failed"
    assert {e["field"] for e in problem["errors"]} == {"patient_id", "payload"}
    assert "patient_id" in text(bad)
    assert secret not in text(bad)
    assert error(typed)["errors"][0]["field"] == "payload.loinc"
    assert secret not in text(typed)
    assert error(missing)["errors"][0]["field"] == "reason"
    assert unknown.is_error
    assert "Unknown tool" in text(unknown)
    assert not still.is_error  # the server is still serving
    assert await count_events(pool, tenant) == 0
    rows = [r for r in await audit_rows(pool, tenant) if r["outcome"] != "success"]
    assert [(r["route"], r["outcome"], r["status"]) for r in rows] == [
        ("mcp tools/call record_event", "failed", 422),
        ("mcp tools/call record_event", "failed", 422),
        ("mcp tools/call retract_event", "failed", 422),
    ]


async def test_read_only_mode_and_the_allow_list(settings: Settings, pool: Pool) -> None:
    tenant = new_tenant()
    headers = await make_key(pool, tenant, "events:read", "events:write", kind=PrincipalKind.AGENT)
    only_reads = create_app(settings.model_copy(update={"mcp_read_only": True}))
    chosen = create_app(
        settings.model_copy(update={"mcp_tools": ["get_patient_context", "record_event"]})
    )
    async with (
        only_reads.router.lifespan_context(only_reads),
        mcp_client(only_reads, headers) as mcp,
    ):
        names = {tool.name for tool in (await mcp.list_tools()).tools}
        refused = await mcp.call_tool("record_event", {
            "patient_id": new_patient(), "event_type": "note", "payload": {"text": "x"},
        })  # fmt: skip
    assert names == {
        "get_patient_context", "list_patient_events", "search_events", "list_escalations",
        "list_open_items",
    }  # fmt: skip
    assert refused.is_error
    assert "Unknown tool" in text(refused)
    assert await count_events(pool, tenant) == 0
    async with chosen.router.lifespan_context(chosen), mcp_client(chosen, headers) as mcp:
        assert {t.name for t in (await mcp.list_tools()).tools} == {
            "get_patient_context", "record_event",
        }  # fmt: skip
    with pytest.raises(ValueError, match="unknown tools: recrod_event"):
        create_app(settings.model_copy(update={"mcp_tools": ["recrod_event"]}))


async def test_failed_authentication_is_audited_and_limited(app: FastAPI, pool: Pool) -> None:
    address = client_address()
    transport = httpx2.ASGITransport(app=app, client=address)
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        statuses = [
            (await http.post("/mcp", json=call, headers=bearer("clk_guess"))).status_code
            for _ in range(25)
        ]
        held = await http.post("/mcp", json=call, headers=bearer("clk_guess"))
    # As REST: a burst of 20 failures per address, then 429 without a lookup.
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}
    assert held.headers["content-type"] == "application/problem+json"
    assert held.json()["code"] == "rate-limited"
    assert int(held.headers["retry-after"]) >= 1
    rows = [r for r in await audit_rows(pool, "-") if r["client_address"] == address[0]]
    assert [(r["route"], r["outcome"], r["status"]) for r in rows] == [
        ("mcp", "denied", 401),  # the first of each kind at once, its repeats counted
        ("mcp", "denied", 429),
    ]
