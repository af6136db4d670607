"""Storage of tenant-registered event types. Connection first; never commits."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from carelog.storage.db import Connection
from carelog.storage.queries import Queries

load = Queries(__name__)


async def event_type_rule(
    conn: Connection, *, tenant_id: str, event_type: str
) -> tuple[dict[str, Any] | None, bool]:
    """The tenant's schema for ``event_type`` (or ``None``) and whether it refuses the rest."""
    cur = await conn.execute(
        load("event_type_rule"), {"tenant_id": tenant_id, "event_type": event_type}
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0], bool(row[1])


async def upsert_event_type(
    conn: Connection, *, tenant_id: str, event_type: str, description: str, schema: dict[str, Any]
) -> dict[str, Any]:
    """Register or replace a type."""
    cur = await conn.execute(
        load("upsert_event_type"),
        {
            "tenant_id": tenant_id,
            "event_type": event_type,
            "description": description,
            "schema": Jsonb(schema),
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return {"event_type": row[0], "description": row[1], "schema": row[2]}


async def list_event_types(conn: Connection, *, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's registered types."""
    cur = await conn.execute(load("list_event_types"), {"tenant_id": tenant_id})
    return [{"event_type": t, "description": d, "schema": s} for t, d, s in await cur.fetchall()]


async def set_reject_unregistered(conn: Connection, *, tenant_id: str, reject: bool) -> bool:
    """Set whether unregistered types are refused; return the setting."""
    cur = await conn.execute(
        load("set_reject_unregistered"), {"tenant_id": tenant_id, "reject": reject}
    )
    row = await cur.fetchone()
    assert row is not None
    return bool(row[0])
