"""Storage of the tenant's payer table (prior authorization's requirements per service
code). Connection first; never commits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from carelog.domain.workflows.payers import StoredPayer
from carelog.storage.db import Connection
from carelog.storage.queries import Queries

load = Queries(__name__)


async def get_payer(conn: Connection, *, tenant_id: str, payer_id: str) -> StoredPayer | None:
    """The payer's rules, or None when the tenant has none for it."""
    cur = await conn.execute(load("get_payer"), {"tenant_id": tenant_id, "payer_id": payer_id})
    row = await cur.fetchone()
    return None if row is None else StoredPayer(payer_id, row[0], row[1], row[2])


async def put_payer(
    conn: Connection,
    *,
    tenant_id: str,
    payer_id: str,
    rules: Mapping[str, Any],
    updated_at: datetime,
    updated_by: str,
) -> StoredPayer:
    """Set the payer's rules (the whole document)."""
    params = {
        "tenant_id": tenant_id,
        "payer_id": payer_id,
        "rules": Jsonb(dict(rules)),
        "updated_at": updated_at,
        "updated_by": updated_by,
    }
    cur = await conn.execute(load("put_payer"), params)
    row = await cur.fetchone()
    assert row is not None
    return StoredPayer(payer_id, row[0], row[1], row[2])


async def list_payers(
    conn: Connection, *, tenant_id: str, after: str | None, limit: int
) -> list[StoredPayer]:
    """Up to ``limit`` of the tenant's payers in id order, after the id ``after``."""
    cur = await conn.execute(
        load("list_payers"), {"tenant_id": tenant_id, "after": after, "limit": limit}
    )
    return [StoredPayer(*row) for row in await cur.fetchall()]
