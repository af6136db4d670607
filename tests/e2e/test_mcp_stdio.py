"""``carelog mcp``: the MCP server over stdio, spawned as a model host would, with the SDK's
own client, against the test database; it acts as the key in CARELOG_API_KEY."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from carelog.domain.principals import PrincipalKind
from carelog.storage.db import Pool
from tests.e2e.mcp_kit import body, error
from tests.factories import audit_rows, count_events, make_key, new_patient, new_tenant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SRC = Path(__file__).resolve().parents[2] / "src"


def _carelog_mcp(database_url: str, key: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "carelog", "mcp"],
        env={"DATABASE_URL": database_url, "CARELOG_API_KEY": key, "PYTHONPATH": str(SRC),
             "CARELOG_LOG_LEVEL": "warning", **env},
    )  # fmt: skip


async def test_tools_over_stdio_act_as_the_key(database_url: str, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    headers = await make_key(pool, tenant, "events:read", "events:write", kind=PrincipalKind.AGENT)
    key = headers["Authorization"].removeprefix("Bearer ")
    async with Client(_carelog_mcp(database_url, key)) as mcp:
        assert mcp.protocol_version == "2026-07-28"
        names = {tool.name for tool in (await mcp.list_tools()).tools}
        recorded = body(await mcp.call_tool("record_event", {
            "patient_id": patient, "event_type": "triage_note", "payload": {"text": "over stdio"},
        }))  # fmt: skip
        context = body(await mcp.call_tool("get_patient_context", {"patient_id": patient}))
        refused = error(await mcp.call_tool("open_escalation", {
            "patient_id": patient, "severity": "routine", "reason": "no workflow scope",
        }))  # fmt: skip
    assert {"record_event", "get_patient_context", "update_prior_auth_case"} <= names
    assert recorded["event"]["recorded_by"].startswith("key:")
    assert context["cited_event_ids"] == [recorded["event"]["id"]]
    assert refused["code"] == "forbidden"
    assert await count_events(pool, tenant) == 1
    rows = await audit_rows(pool, tenant)
    assert [(r["route"], r["outcome"]) for r in rows] == [
        ("mcp tools/call record_event", "success"),
        ("mcp tools/call get_patient_context", "success"),
        ("mcp tools/call open_escalation", "denied"),
    ]
    assert all(r["request_id"].startswith("mcp-") for r in rows)
    assert all(r["principal_kind"] == "agent" for r in rows)


def test_a_missing_or_bad_key_stops_before_serving(database_url: str) -> None:
    for key, said in (("", "set CARELOG_API_KEY"), ("clk_not_a_key", "error:")):
        params = _carelog_mcp(database_url, key)
        ended = subprocess.run(
            [params.command, *params.args], env={**os.environ, **(params.env or {})},
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert ended.returncode == 1, ended.stderr
        assert said in ended.stderr
        assert ended.stdout == ""  # stdout is the protocol's: nothing else goes there
