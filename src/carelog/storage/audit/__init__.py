"""Storage of the audit trail. Connection first; never commits. Chaining happens in the
database (the audit_events_chain trigger), so every writer chains the same way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from psycopg.rows import dict_row

from carelog.domain.audit import AuditContext, AuditEvent, ChainRow, RepeatedAttempts
from carelog.storage.db import Connection
from carelog.storage.queries import Queries

load = Queries(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Audited(Generic[T]):
    """What a statement that audits itself gives back: its result, and whether it wrote
    the request's audit row (a read that found nothing leaves that to its caller). The
    unit of work (services/unit.py) takes the flag: the row counts once it is committed."""

    value: T
    audited: bool


async def insert_audit_event(
    conn: Connection,
    *,
    audit: AuditContext,
    action: str,
    outcome: str,
    status: int | None = None,
    patient_id: str | None = None,
    event_ids: list[int] | None = None,
    result_count: int | None = None,
    if_version: int | None = None,
) -> bool:
    """Append one audit row for ``audit``'s request. With ``if_version``, only if
    ``patient_id``'s version is still that one; whether the row was written."""
    cur = await conn.execute(
        load("insert_audit_event"),
        {
            "tenant_id": audit.tenant_id,
            "action": action,
            "outcome": outcome,
            "status": status,
            "patient_id": patient_id,
            "event_ids": event_ids or [],
            "result_count": result_count,
            "if_version": if_version,
            **audit.params(),
        },
    )
    return cur.rowcount == 1


async def insert_repeated_attempts(
    conn: Connection, *, tenant_id: str, repeats: list[RepeatedAttempts]
) -> None:
    """Append one counted row for each of ``repeats``."""
    async with conn.cursor() as cur:
        await cur.executemany(
            load("insert_audit_repeats"),
            [
                {
                    "tenant_id": tenant_id,
                    "action": r.action.value,
                    "outcome": r.outcome.value,
                    "status": r.status,
                    "route": r.route,
                    "client_address": r.client_address,
                    "attempts": r.attempts,
                    "first_attempt_at": r.first_attempt_at,
                    "last_attempt_at": r.last_attempt_at,
                }
                for r in repeats
            ],
        )


def _audit_event(row: dict[str, Any]) -> AuditEvent:
    return AuditEvent(id=f"{row['tenant_id']}.{row['lane']}.{row['seq']}", **row)


async def list_audit_events(
    conn: Connection,
    *,
    tenant_id: str,
    filters: dict[str, Any],
    after: tuple[datetime, int, int] | None,
    limit: int,
    patients: frozenset[str] | None = None,
    reader: str | None = None,
) -> list[AuditEvent]:
    """A tenant's audit rows, newest first, matching ``filters``. With ``patients``, only
    rows of those patients, and rows naming no patient that ``reader`` wrote itself."""
    after_at, after_lane, after_seq = after or (None, None, None)
    params = {
        "tenant_id": tenant_id,
        "patients": None if patients is None else sorted(patients),
        "reader": reader,
        "after_at": after_at,
        "after_lane": after_lane,
        "after_seq": after_seq,
        "limit": limit,
        **filters,
    }
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(load("list_audit_events"), params)
        return [_audit_event(row) for row in await cur.fetchall()]


async def chain_rows(conn: Connection, *, tenant_id: str) -> list[ChainRow]:
    """Every audit row of the tenant, with the hash its content calls for."""
    cur = await conn.execute(load("audit_chain_rows"), {"tenant_id": tenant_id})
    return [
        ChainRow(lane, seq, bytes(prev), bytes(stored), bytes(expected))
        for lane, seq, prev, stored, expected in await cur.fetchall()
    ]


async def chain_heads(conn: Connection, *, tenant_id: str) -> dict[int, tuple[int, bytes]]:
    """Each lane's recorded (seq, row_hash)."""
    cur = await conn.execute(load("audit_chain_heads"), {"tenant_id": tenant_id})
    return {lane: (seq, bytes(digest)) for lane, seq, digest in await cur.fetchall()}


async def audited_tenants(conn: Connection) -> list[str]:
    """Every tenant with an audit chain."""
    cur = await conn.execute(load("audit_tenants"))
    return [tenant for (tenant,) in await cur.fetchall()]
