"""Storage of tenants and API keys (hashes only). Connection first; never commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row

from carelog.domain.principals import ApiKey, ApiKeyCreate, Principal, PrincipalKind
from carelog.domain.scopes import permissions_for
from carelog.storage.queries import Queries

load = Queries(__name__)


async def ensure_tenant(conn: AsyncConnection[Any], *, tenant_id: str) -> None:
    """Create the tenant row if it is missing."""
    await conn.execute(load("ensure_tenant"), {"tenant_id": tenant_id})


async def insert_api_key(
    conn: AsyncConnection[Any], *, key_id: str, key_hash: bytes, request: ApiKeyCreate
) -> ApiKey:
    """Store a key's hash and metadata."""
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(
            load("insert_api_key"),
            {
                "key_id": key_id,
                "tenant_id": request.tenant_id,
                "name": request.name,
                "key_hash": key_hash,
                "scopes": sorted(request.scopes),
                "kind": request.kind.value,
                "agent_name": request.agent_name,
                "expires_at": request.expires_at,
                "patients": None if request.patients is None else sorted(request.patients),
                "default_purpose": request.default_purpose,
            },
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def find_principal(conn: AsyncConnection[Any], *, key_hash: bytes) -> Principal | None:
    """The principal of the live key with ``key_hash``, or ``None`` (unknown or revoked)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(load("find_api_key"), {"key_hash": key_hash})
        row = await cur.fetchone()
    if row is None:
        return None
    return Principal(
        key_id=row["key_id"],
        tenant_id=row["tenant_id"],
        permissions=permissions_for(row["scopes"]),
        kind=PrincipalKind(row["kind"]),
        agent_name=row["agent_name"],
        expires_at=row["expires_at"],
        patients=None if row["patients"] is None else frozenset(row["patients"]),
        default_purpose=row["default_purpose"],
    )


async def list_api_keys(conn: AsyncConnection[Any], *, tenant_id: str | None) -> list[ApiKey]:
    """Keys of one tenant, or of all tenants when ``tenant_id`` is ``None``."""
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(load("list_api_keys"), {"tenant_id": tenant_id})
        return await cur.fetchall()


async def revoke_api_key(conn: AsyncConnection[Any], *, key_id: str) -> ApiKey | None:
    """Revoke a live key; ``None`` when there is no live key with that id."""
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(load("revoke_api_key"), {"key_id": key_id})
        return await cur.fetchone()


async def count_api_keys(conn: AsyncConnection[Any]) -> int:
    """How many keys exist, live or revoked."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(load("count_api_keys"))
        row = await cur.fetchone()
    assert row is not None
    return int(row["n"])


async def notify_keys_changed(conn: AsyncConnection[Any]) -> None:
    """Signal, on commit, that cached principals must be dropped everywhere."""
    await conn.execute(load("notify_keys_changed"))


async def get_live_api_key_for_update(conn: AsyncConnection[Any], *, key_id: str) -> ApiKey | None:
    """A live (not revoked, not expired) key, row-locked until the transaction ends."""
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(load("get_live_api_key_for_update"), {"key_id": key_id})
        return await cur.fetchone()


async def retire_api_key(
    conn: AsyncConnection[Any], *, key_id: str, replaced_by: str, grace: timedelta
) -> ApiKey:
    """Let a rotated key expire after ``grace`` (never later than it would have)."""
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(
            load("retire_api_key"), {"key_id": key_id, "replaced_by": replaced_by, "grace": grace}
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def record_key_use(conn: AsyncConnection[Any], *, used: dict[str, datetime]) -> None:
    """Store the latest use time of each key in ``used``."""
    await conn.execute(
        load("record_key_use"), {"key_ids": list(used), "used_at": list(used.values())}
    )
