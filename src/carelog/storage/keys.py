"""Storage of tenants and API keys (hashes only). Connection first; never commits."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row

from carelog.domain.principals import ApiKey, Principal, Scope
from carelog.storage.queries import load


async def ensure_tenant(conn: AsyncConnection[Any], *, tenant_id: str) -> None:
    """Create the tenant row if it is missing."""
    await conn.execute(load("ensure_tenant"), {"tenant_id": tenant_id})


async def insert_api_key(
    conn: AsyncConnection[Any],
    *,
    key_id: str,
    tenant_id: str,
    name: str,
    key_hash: bytes,
    scopes: list[str],
) -> ApiKey:
    """Store a key's hash and metadata."""
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(
            load("insert_api_key"),
            {
                "key_id": key_id,
                "tenant_id": tenant_id,
                "name": name,
                "key_hash": key_hash,
                "scopes": scopes,
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
        scopes=frozenset(Scope(s) for s in row["scopes"]),
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
