"""The MCP tools over streamable HTTP at /mcp, with the SDK's own client: the list a model
sees, and each tool's happy path with what it wrote in the database and its audit row
(through MCP: route ``mcp tools/call <tool>``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from carelog.domain.principals import PrincipalKind
from carelog.storage.db import Pool
from tests.e2e.mcp_kit import as_json, body, mcp_client, text
from tests.e2e.workflow_kit import Clock, case_rows, new_team, transition_events
from tests.factories import audit_rows, count_events, make_key, new_patient, new_tenant, record

pytestmark = pytest.mark.e2e

READ_TOOLS = {
    "get_patient_context", "list_patient_events", "search_events", "list_escalations",
    "list_open_items",
}  # fmt: skip
WRITE_TOOLS = {
    "record_event", "correct_event", "retract_event", "open_escalation",
    "update_prior_auth_case", "record_decision",
}  # fmt: skip
ALL = ("events:read", "events:write", "workflows:read", "workflows:write")


def _last(rows: list[dict[str, Any]], tool: str) -> dict[str, Any]:
    mine = [row for row in rows if row["route"] == f"mcp tools/call {tool}"]
    assert mine, [row["route"] for row in rows]
    return mine[-1]


async def test_the_tools_a_model_sees(app: FastAPI, pool: Pool) -> None:
    headers = await make_key(pool, new_tenant(), *ALL)
    async with mcp_client(app, headers) as mcp:
        assert mcp.protocol_version == "2026-07-28"
        listed = (await mcp.list_tools()).tools
        templates = (await mcp.list_resource_templates()).resource_templates
    tools = {tool.name: tool for tool in listed}
    assert set(tools) == READ_TOOLS | WRITE_TOOLS
    for name, tool in tools.items():
        assert len(tool.description or "") > 40, name
        assert tool.annotations is not None
        assert tool.annotations.open_world_hint is False
        assert tool.annotations.read_only_hint is (name in READ_TOOLS), name
        for field, schema in tool.input_schema["properties"].items():
            assert schema.get("description"), (name, field)
    assert tools["retract_event"].annotations.destructive_hint is True  # type: ignore[union-attr]
    assert tools["record_event"].annotations.destructive_hint is False  # type: ignore[union-attr]
    assert tools["record_event"].annotations.idempotent_hint is False  # type: ignore[union-attr]
    assert tools["get_patient_context"].input_schema["required"] == ["patient_id"]
    assert [t.uri_template for t in templates] == ["carelog://patients/{patient_id}/context"]


async def test_record_read_search_correct_and_retract(
    app: FastAPI, pool: Pool, client: httpx.AsyncClient
) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = await make_key(pool, tenant, *ALL, kind=PrincipalKind.AGENT)
    async with mcp_client(app, headers) as mcp:
        recorded = body(await mcp.call_tool("record_event", {
            "patient_id": patient, "event_type": "triage_note",
            "payload": {"symptoms": ["fever"], "severity": "moderate",
                        "text": "Fever and productive cough since Monday"},
        }))  # fmt: skip
        event = recorded["event"]
        assert event["patient_id"] == patient
        assert event["recorded_by"].startswith("key:")
        assert event["source"] == "intake-bot"
        assert recorded["cited_event_ids"] == [event["id"]]
        assert await count_events(pool, tenant) == 1
        row = _last(await audit_rows(pool, tenant), "record_event")
        assert (row["action"], row["outcome"], row["patient_id"], row["event_ids"]) == (
            "create", "success", patient, [event["id"]],
        )  # fmt: skip
        assert row["principal_kind"] == "agent"
        assert row["request_id"]

        context = await mcp.call_tool("get_patient_context", {"patient_id": patient})
        assert f"# Patient {patient}" in text(context)
        assert f"[events {event['id']}]" in text(context)
        assert body(context)["cited_event_ids"] == [event["id"]]
        assert body(context)["as_of"] is not None
        read = _last(await audit_rows(pool, tenant), "get_patient_context")
        assert (read["action"], read["event_ids"]) == ("read", [event["id"]])
        as_json_context = await mcp.call_tool(
            "get_patient_context", {"patient_id": patient, "format": "json", "max_tokens": 200}
        )
        assert as_json(as_json_context)["patient_id"] == patient

        listed = body(await mcp.call_tool("list_patient_events", {"patient_id": patient}))
        assert [e["id"] for e in listed["events"]] == [event["id"]]
        assert listed["next_cursor"] is None
        assert _last(await audit_rows(pool, tenant), "list_patient_events")["action"] == "search"

        found = body(await mcp.call_tool("search_events", {"q": "cough", "patient_id": patient}))
        assert found["cited_event_ids"] == [event["id"]]

        corrected = body(await mcp.call_tool("correct_event", {
            "event_id": event["id"], "reason": "severity was high",
            "payload": {"symptoms": ["fever"], "severity": "high"},
        }))["event"]  # fmt: skip
        assert (corrected["status"], corrected["supersedes"]) == ("amended", event["id"])
        again = await mcp.call_tool("correct_event", {
            "event_id": event["id"], "reason": "again", "payload": {"severity": "low"},
        })  # fmt: skip
        assert again.is_error
        assert again.structured_content is not None
        assert again.structured_content["code"] == "event-superseded"
        retracted = body(await mcp.call_tool(
            "retract_event", {"event_id": corrected["id"], "reason": "wrong patient"}
        ))["event"]  # fmt: skip
        assert retracted["status"] == "entered-in-error"
        assert await count_events(pool, tenant) == 3
    succeeded = {r["route"] for r in await audit_rows(pool, tenant) if r["outcome"] == "success"}
    assert succeeded == {
        f"mcp tools/call {tool}"
        for tool in ("record_event", "get_patient_context", "list_patient_events",
                     "search_events", "correct_event", "retract_event")
    }  # fmt: skip
    # What MCP wrote, REST reads: nothing of the patient is current any more.
    response = await client.get(f"/patient-events/{patient}", headers=headers)
    assert response.status_code == 404


async def test_a_decision_cites_the_context_it_used(app: FastAPI, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = await make_key(pool, tenant, *ALL, kind=PrincipalKind.AGENT)
    async with mcp_client(app, headers) as mcp:
        body(await mcp.call_tool("record_event", {
            "patient_id": patient, "event_type": "lab_result",
            "payload": {"loinc": "4548-4", "value": 9.1, "unit": "%"},
        }))  # fmt: skip
        context = body(await mcp.call_tool("get_patient_context", {"patient_id": patient}))
        decided = body(await mcp.call_tool("record_decision", {
            "patient_id": patient, "action": "open care task",
            "rationale": "HbA1c above target", "relied_on": context["cited_event_ids"],
            "context_as_of": context["as_of"], "model": "rule-based",
        }))  # fmt: skip
    payload = decided["event"]["payload"]
    assert decided["event"]["event_type"] == "agent_decision"
    assert payload["relied_on"] == context["cited_event_ids"]
    assert payload["agent"] == "intake-bot"
    assert payload["model"] == "rule-based"
    assert payload["context_as_of"] is not None
    assert set(context["cited_event_ids"]) < set(decided["cited_event_ids"])
    assert await count_events(pool, tenant) == 2
    row = _last(await audit_rows(pool, tenant), "record_decision")
    assert (row["action"], row["outcome"], row["event_ids"]) == (
        "create", "success", [decided["event"]["id"]],
    )  # fmt: skip


async def test_escalations_prior_auth_and_open_items(
    app: FastAPI, pool: Pool, client: httpx.AsyncClient, clock: Clock
) -> None:
    team, patient = await new_team(pool), new_patient()
    note = await record(client, team.agent, patient, "triage_note", {"text": "Chest pain"})
    async with mcp_client(app, team.agent) as mcp:
        opened = body(await mcp.call_tool("open_escalation", {
            "patient_id": patient, "severity": "urgent", "reason": "Chest pain at rest",
            "link_events": [note],
        }))  # fmt: skip
        case = opened["case"]
        assert (case["status"], case["severity"], case["links"]) == ("open", "urgent", [note])
        assert note in opened["cited_event_ids"]
        [row] = await case_rows(pool, team.tenant)
        assert str(row["case_id"]) == case["id"]
        assert _last(await audit_rows(pool, team.tenant), "open_escalation")["outcome"] == "success"

        queue = body(await mcp.call_tool("list_escalations", {"status": ["open"]}))
        assert [c["id"] for c in queue["cases"]] == [case["id"]]

        await client.put("/payers/acme", json={"name": "Acme"}, headers=team.admin)
        pa = await client.post("/prior-auth-cases", headers=team.agent, json={
            "patient_id": patient, "payer": {"id": "acme"}, "diagnosis_codes": ["G43.909"],
            "lines": [{"code": "70551", "description": "MRI brain",
                       "service_from": "2026-03-10"}],
            "ordering_provider": {"npi": "1234567893", "name": "Dr. Synthetic"},
            "channel": "fhir_pas",
        })  # fmt: skip
        assert pa.status_code == 201, pa.text
        acted = body(await mcp.call_tool("update_prior_auth_case", {
            "case_id": pa.json()["id"],
            "action": {"action": "comment", "comment": "Called the payer"},
        }))["case"]  # fmt: skip
        assert acted["version"] == 2
        refused = await mcp.call_tool("update_prior_auth_case", {
            "case_id": pa.json()["id"], "action": {"action": "approve"},
        })  # fmt: skip
        assert refused.is_error
        assert refused.structured_content is not None
        assert refused.structured_content["code"] == "validation-failed"
        assert refused.structured_content["errors"][0]["field"].startswith("action")

        items = body(await mcp.call_tool("list_open_items", {"patient_id": patient}))
        assert [c["id"] for c in items["open_items"]["escalation"]] == [case["id"]]
        assert [c["id"] for c in items["open_items"]["prior_auth"]] == [pa.json()["id"]]

        resource = await mcp.read_resource(f"carelog://patients/{patient}/context")
        assert "Chest pain" in resource.contents[0].text  # type: ignore[union-attr]
    routes = {r["route"] for r in await audit_rows(pool, team.tenant) if r["outcome"] == "success"}
    assert {
        f"mcp tools/call {tool}"
        for tool in ("open_escalation", "list_escalations", "update_prior_auth_case",
                     "list_open_items")
    } | {"mcp resources/read carelog://patients/"} <= routes  # fmt: skip
    comment = [t for t in await transition_events(pool, team.tenant)
               if t["payload"]["action"] == "comment"]  # fmt: skip
    assert [t["payload"]["case_id"] for t in comment] == [pa.json()["id"]]
    assert comment[0]["payload"]["note"] == "Called the payer"
