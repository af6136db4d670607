"""MCP over a real loopback HTTP server (uvicorn, as deployed), and sensitivity labels applied
to MCP reads exactly as to REST's: what a key may not see is withheld and counted."""

from __future__ import annotations

import httpx2
import pytest
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from carelog.api.app import create_app
from carelog.settings import Settings
from carelog.storage.db import Pool
from tests.e2e.live_server import serve
from tests.e2e.mcp_kit import BASE_URL, body, mcp_client, text
from tests.factories import audit_rows, client_address, make_key, new_patient, new_tenant

pytestmark = pytest.mark.e2e


async def test_a_real_http_server_with_a_host_allow_list(settings: Settings, pool: Pool) -> None:
    headers = await make_key(pool, new_tenant(), "events:read", "events:write")
    app = create_app(settings.model_copy(update={"mcp_allowed_hosts": ["127.0.0.1:*"]}))
    with serve(app) as url:
        async with httpx2.AsyncClient(headers=headers) as http:
            async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as mcp:
                recorded = body(await mcp.call_tool("record_event", {
                    "patient_id": new_patient(), "event_type": "note",
                    "payload": {"text": "over the wire"},
                }))  # fmt: skip
            # DNS-rebinding protection: a Host the allow-list does not name is refused.
            misdirected = await http.post(
                f"{url}/mcp", headers={"Host": "evil.example"},
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            )  # fmt: skip
    assert recorded["event"]["payload"] == {"text": "over the wire"}
    assert misdirected.status_code == 421


async def test_sensitive_events_are_withheld_from_a_key_without_the_label(
    app: FastAPI, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = await make_key(pool, tenant, "events:read", "events:write", "sensitive:BH")
    reader = await make_key(pool, tenant, "events:read")
    async with mcp_client(app, writer) as mcp:
        for text_, labels in (("plain visit", []), ("psychiatry note", ["BH"])):
            body(await mcp.call_tool("record_event", {
                "patient_id": patient, "event_type": "triage_note", "payload": {"text": text_},
                "labels": labels,
            }))  # fmt: skip
        everything = body(await mcp.call_tool("list_patient_events", {"patient_id": patient}))
    async with mcp_client(app, reader) as mcp:
        listed = body(await mcp.call_tool("list_patient_events", {"patient_id": patient}))
        context = await mcp.call_tool("get_patient_context", {"patient_id": patient})
        found = body(await mcp.call_tool("search_events", {"q": "psychiatry"}))
    assert len(everything["events"]) == 2
    assert [e["payload"]["text"] for e in listed["events"]] == ["plain visit"]
    assert listed["withheld"] == 1
    assert body(context)["withheld"] == 1
    assert "psychiatry" not in text(context)
    assert found["events"] == []


async def test_an_older_client_with_the_handshake_works_too(app: FastAPI, pool: Pool) -> None:
    """A host on the 2025-11-25 revision (initialize handshake) is served statelessly."""
    tenant = new_tenant()
    headers = await make_key(pool, tenant, "events:read", "events:write")
    transport = httpx2.ASGITransport(app=app, client=client_address())
    async with (
        httpx2.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as http,
        Client(streamable_http_client(f"{BASE_URL}/mcp", http_client=http), mode="legacy") as mcp,
    ):
        assert mcp.protocol_version == "2025-11-25"
        recorded = body(await mcp.call_tool("record_event", {
            "patient_id": new_patient(), "event_type": "note", "payload": {"text": "legacy"},
        }))  # fmt: skip
    [row] = await audit_rows(pool, tenant)
    assert (row["route"], row["event_ids"]) == (
        "mcp tools/call record_event", [recorded["event"]["id"]],
    )  # fmt: skip
