"""The caller is known before its body is looked at (issue 9, item 9): a body refused for its
size, media type or syntax is answered 401 without a valid key, and with one it is audited
under the caller's tenant and principal, never under ``-``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from carelog.domain.audit import UNKNOWN_TENANT
from carelog.services import audit as audit_service
from carelog.services.auth import keys
from carelog.storage.db import Pool
from tests.factories import audit_rows, bearer, make_token, new_tenant

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}
LIMIT = 1024 * 1024
TOO_LARGE = b'{"patient_id": "P-1", "event_type": "x", "payload": {"t": "' + b"x" * LIMIT + b'"}}'


async def _streamed() -> AsyncIterator[bytes]:
    for _ in range(3):
        yield b" " * (LIMIT // 2)


# What a known caller sends and is refused for, before anything is parsed.
REFUSED: dict[str, tuple[dict[str, str], Any, int, str]] = {
    "declared too large": (JSON, TOO_LARGE, 413, "payload-too-large"),
    "streamed too large": (JSON, None, 413, "payload-too-large"),  # _streamed()
    "not JSON": ({"Content-Type": "text/plain"}, b"{}", 415, "unsupported-media-type"),
    "malformed JSON": (JSON, b'{"patient_id": "P-1", ', 400, "bad-request"),
    "repeated key": (
        JSON,
        b'{"patient_id": "P-1", "patient_id": "P-2", "event_type": "x", "payload": {}}',
        400,
        "bad-request",
    ),
}


def _request_id() -> str:
    return f"first-{uuid.uuid4().hex[:12]}"


async def _send(
    client: httpx.AsyncClient, case: str, credential: dict[str, str], request_id: str
) -> httpx.Response:
    headers, body, _, _ = REFUSED[case]
    return await client.post(
        "/patient-events",
        content=_streamed() if body is None else body,
        headers={**credential, **headers, "X-Request-ID": request_id},
    )


async def _rows(pool: Pool, tenant: str, request_id: str) -> list[dict[str, Any]]:
    return [r for r in await audit_rows(pool, tenant) if r["request_id"] == request_id]


@pytest.mark.parametrize("case", list(REFUSED))
async def test_a_refused_body_is_audited_under_the_callers_tenant(
    client: httpx.AsyncClient, pool: Pool, case: str
) -> None:
    tenant = new_tenant()
    token = await make_token(pool, tenant)
    _, _, status, code = REFUSED[case]
    request_id = _request_id()
    response = await _send(client, case, bearer(token), request_id)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    if status == 413:
        assert response.headers["connection"] == "close"
    [row] = await _rows(pool, tenant, request_id)
    assert (row["action"], row["outcome"], row["status"]) == ("create", "failed", status)
    assert row["principal_id"] == (await keys.authenticate(pool, token)).name
    assert row["route"] == "/patient-events"
    assert await _rows(pool, UNKNOWN_TENANT, request_id) == []
    # The tenant's chain holds it (and `-`, above, does not): `carelog audit verify` lists
    # the tenant, and no longer `-` for a known caller's request.
    report = await audit_service.verify(pool, tenant)
    assert (report.ok, report.rows) == (True, 1)


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("credential", ["none", "made up"])
async def test_a_refused_body_without_a_valid_key_is_401(
    client: httpx.AsyncClient, pool: Pool, case: str, credential: str
) -> None:
    key = {"made up": bearer("clk_madeup_notakey")}.get(credential, {})
    response = await _send(client, case, key, _request_id())
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")
    if "too large" in case:
        assert response.headers["connection"] == "close"  # the rest of the body is unread


@pytest.mark.parametrize("case", list(REFUSED))
async def test_a_refused_body_without_the_scope_is_403(
    client: httpx.AsyncClient, pool: Pool, case: str
) -> None:
    tenant = new_tenant()
    reader = await make_token(pool, tenant, "events:read")
    request_id = _request_id()
    response = await _send(client, case, bearer(reader), request_id)
    assert response.status_code == 403, response.text
    [row] = await _rows(pool, tenant, request_id)
    assert (row["outcome"], row["status"]) == ("denied", 403)
    assert row["principal_id"] == (await keys.authenticate(pool, reader)).name


async def test_a_get_with_a_body_over_the_limit_is_413_after_authentication(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    token = await make_token(pool, tenant, "audit:read")
    anonymous = await client.request("GET", "/audit-events", content=TOO_LARGE)
    assert anonymous.status_code == 401
    request_id = _request_id()
    response = await client.request(
        "GET",
        "/audit-events",
        content=TOO_LARGE,
        headers={**bearer(token), "X-Request-ID": request_id},
    )
    assert response.status_code == 413
    [row] = await _rows(pool, tenant, request_id)
    assert (row["action"], row["outcome"], row["status"]) == ("search", "failed", 413)


@pytest.mark.parametrize(("method", "path"), [("POST", "/nowhere"), ("POST", "/healthz")])
async def test_unknown_and_public_routes_refuse_a_large_body_at_once(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, content=TOO_LARGE)
    assert response.status_code == 413
    assert response.headers["connection"] == "close"


async def test_headers_too_large_are_an_anonymous_attempt_on_the_route(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    """The headers are refused before any of them is read for meaning: a valid key in them
    is not looked up, so the attempt is recorded as anonymous (tenant ``-``, no principal),
    under the route it was sent to."""
    tenant = new_tenant()
    token = await make_token(pool, tenant)
    request_id = _request_id()
    response = await client.get(
        "/patient-events/P-431",
        headers={**bearer(token), "X-Request-ID": request_id, "X-Filler": "a" * 40_000},
    )
    assert response.status_code == 431
    assert response.headers["x-request-id"] == request_id
    [row] = await _rows(pool, UNKNOWN_TENANT, request_id)
    assert (row["action"], row["outcome"], row["status"]) == ("search", "failed", 431)
    assert (row["principal_id"], row["route"]) == (None, "/patient-events/{patient_id}")
    assert await _rows(pool, tenant, request_id) == []
