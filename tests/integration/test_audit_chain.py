"""Tamper evidence: rows edited, deleted, reordered or cut off are each detected."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import psycopg
import pytest

from carelog.domain.audit import AuditContext
from carelog.services.audit import verify
from carelog.storage import audit as audit_store
from carelog.storage.db import Connection, Pool, connection
from tests.factories import new_tenant

pytestmark = pytest.mark.integration


async def _chain(pool: Pool, rows: int = 5) -> tuple[str, int]:
    """A fresh tenant with ``rows`` audit rows in one lane (one connection = one lane)."""
    tenant = new_tenant()
    async with connection(pool, tenant) as conn:
        for i in range(rows):
            audit = AuditContext(request_id=f"r{i}", client_address="127.0.0.1", tenant_id=tenant)
            audit.principal_id = "key:tester"
            await audit_store.insert_audit_event(
                conn, audit=audit, action="read", outcome="success", patient_id=f"P-{i}"
            )
        cur = await conn.execute(
            "SELECT DISTINCT lane FROM audit_events WHERE tenant_id = %s", (tenant,)
        )
        [(lane,)] = await cur.fetchall()
    return tenant, int(lane)


async def _tamper(conn: Connection, *statements: str, params: dict[str, object]) -> None:
    """Run statements as a DBA who switched the append-only trigger off."""
    async with conn.transaction():
        await conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        for statement in statements:
            await conn.execute(statement.encode(), params)
        await conn.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")


WHERE = "tenant_id = %(tenant)s AND lane = %(lane)s"


@pytest.mark.parametrize(
    ("statements", "seq", "reason"),
    [
        (
            [f"UPDATE audit_events SET principal_id = 'key:forged' WHERE {WHERE} AND seq = 3"],
            3,
            "content changed",
        ),
        (
            [f"UPDATE audit_events SET patient_id = 'P-other' WHERE {WHERE} AND seq = 1"],
            1,
            "content changed",
        ),
        ([f"DELETE FROM audit_events WHERE {WHERE} AND seq = 3"], 3, "row missing"),
        (
            [
                f"UPDATE audit_events SET seq = -2 WHERE {WHERE} AND seq = 2",
                f"UPDATE audit_events SET seq = 2 WHERE {WHERE} AND seq = 3",
                f"UPDATE audit_events SET seq = 3 WHERE {WHERE} AND seq = -2",
            ],
            2,
            "link broken",
        ),
        (
            # Edit a row and recompute its own hash: the next row's link gives it away.
            [
                f"UPDATE audit_events SET outcome = 'denied' WHERE {WHERE} AND seq = 3",
                "UPDATE audit_events AS a SET row_hash = sha256(a.prev_hash || "
                f"carelog_audit_content(a)) WHERE {WHERE} AND seq = 3",
            ],
            4,
            "link broken",
        ),
        ([f"DELETE FROM audit_events WHERE {WHERE} AND seq = 5"], 5, "newest rows missing"),
    ],
    ids=["edit", "edit-first", "delete", "reorder", "edit-and-rehash", "cut-tail"],
)
async def test_tampering_is_detected(
    pool: Pool, dba: Connection, statements: list[str], seq: int, reason: str
) -> None:
    tenant, lane = await _chain(pool)
    before = await verify(pool, tenant)
    assert before.ok
    assert before.rows == 5
    await _tamper(dba, *statements, params={"tenant": tenant, "lane": lane})
    after = await verify(pool, tenant)
    assert not after.ok
    assert after.first_break is not None
    assert (after.first_break.lane, after.first_break.seq, after.first_break.reason) == (
        lane,
        seq,
        reason,
    )


async def test_the_service_cannot_change_audit_rows(pool: Pool) -> None:
    tenant, _ = await _chain(pool, rows=1)
    attempts: list[Callable[[Connection], Awaitable[object]]] = [
        lambda c: c.execute(
            "UPDATE audit_events SET outcome = 'denied' WHERE tenant_id = %s", (tenant,)
        ),
        lambda c: c.execute("DELETE FROM audit_events WHERE tenant_id = %s", (tenant,)),
        lambda c: c.execute("TRUNCATE audit_events"),
    ]
    async with connection(pool, tenant) as conn:
        for attempt in attempts:
            # carelog_app holds no UPDATE, DELETE or TRUNCATE privilege on the trail at all.
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                await attempt(conn)
    assert (await verify(pool, tenant)).ok


async def test_concurrent_writers_never_fork_a_chain(pool: Pool) -> None:
    tenant = new_tenant()

    async def write(i: int) -> None:
        async with connection(pool, tenant) as conn:
            audit = AuditContext(request_id=f"c{i}", client_address=None, tenant_id=tenant)
            await audit_store.insert_audit_event(
                conn, audit=audit, action="create", outcome="success"
            )

    await asyncio.gather(*(write(i) for i in range(60)))
    report = await verify(pool, tenant)
    assert report.ok, report
    assert report.rows == 60
