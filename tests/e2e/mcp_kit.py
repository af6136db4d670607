"""The SDK's own MCP client against the app at /mcp, over ASGI (streamable HTTP), with a key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent
from starlette.types import ASGIApp

from tests.factories import client_address

BASE_URL = "http://carelog.test"


@asynccontextmanager
async def mcp_client(app: ASGIApp, headers: dict[str, str]) -> AsyncIterator[Client]:
    """A connected MCP client sending ``headers`` (the key) with every request."""
    transport = httpx2.ASGITransport(app=app, client=client_address())
    async with (
        httpx2.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as http,
        Client(streamable_http_client(f"{BASE_URL}/mcp", http_client=http)) as client,
    ):
        yield client


def body(result: CallToolResult) -> dict[str, Any]:
    """A successful tool result's structured content."""
    assert not result.is_error, text(result)
    found: dict[str, Any] | None = result.structured_content
    assert found is not None
    return found


def text(result: CallToolResult) -> str:
    """The result's first text block."""
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def error(result: CallToolResult) -> dict[str, Any]:
    """A tool error's problem (code, status, detail, errors)."""
    assert result.is_error, text(result)
    found: dict[str, Any] | None = result.structured_content
    assert found is not None, text(result)
    return found


def as_json(result: CallToolResult) -> Any:
    return json.loads(text(result))
