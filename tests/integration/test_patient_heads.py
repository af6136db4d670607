"""patient_heads: every statement that records events moves each touched patient's version by
the number of its events, in the writer's transaction, whoever writes and however; tenants
see only their own heads."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from psycopg import AsyncConnection, Rollback

from carelog.storage.db import Pool, connection
from tests.factories import new_patient, new_tenant

pytestmark = pytest.mark.integration

Connection = AsyncConnection[Any]

INSERT_MANY = (
    "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
    " recorded_by) SELECT %(tenant)s, p, 'x', '{}', now(), 'test'"
    " FROM unnest(%(patients)s::text[]) AS p"
)


async def _head(conn: Connection, tenant: str, patient: str) -> tuple[int, Any] | None:
    cur = await conn.execute(
        "SELECT version, changed_at FROM patient_heads WHERE tenant_id = %s AND patient_id = %s",
        (tenant, patient),
    )
    row = await cur.fetchone()
    return None if row is None else (int(row[0]), row[1])


async def test_a_statement_moves_each_patients_version_by_its_events(dba: Connection) -> None:
    tenant, one, two = new_tenant(), new_patient(), new_patient()
    assert await _head(dba, tenant, one) is None
    await dba.execute(INSERT_MANY, {"tenant": tenant, "patients": [one, one, one, two]})
    first = await _head(dba, tenant, one)
    assert first is not None
    assert first[0] == 3
    assert (await _head(dba, tenant, two) or (0,))[0] == 1
    await dba.execute(INSERT_MANY, {"tenant": tenant, "patients": [one]})
    later = await _head(dba, tenant, one)
    assert later is not None
    assert later[0] == 4
    assert later[1] >= first[1]  # the newest recorded time
    cur = await dba.execute(
        "SELECT max(recorded_at) FROM patient_events WHERE tenant_id = %s AND patient_id = %s",
        (tenant, one),
    )
    assert await cur.fetchone() == (later[1],)


async def test_a_rolled_back_write_leaves_the_version(dba: Connection) -> None:
    tenant, patient = new_tenant(), new_patient()
    await dba.execute(INSERT_MANY, {"tenant": tenant, "patients": [patient]})
    async with dba.transaction():
        await dba.execute(INSERT_MANY, {"tenant": tenant, "patients": [patient] * 5})
        raise Rollback()  # psycopg rolls the transaction back and carries on
    assert (await _head(dba, tenant, patient) or (0,))[0] == 1


async def test_copy_moves_the_version(dba: Connection) -> None:
    tenant, patient = new_tenant(), new_patient()
    async with dba.cursor() as cur:
        copy_sql = (
            "COPY patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
            " recorded_by) FROM STDIN"
        )
        async with cur.copy(copy_sql) as copy:
            for _ in range(7):
                await copy.write_row((tenant, patient, "x", "{}", "2026-01-01T00:00:00Z", "bulk"))
    assert (await _head(dba, tenant, patient) or (0,))[0] == 7


async def test_concurrent_writers_lose_no_update(pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()

    async def write() -> None:
        async with connection(pool, tenant) as conn:
            await conn.execute(INSERT_MANY, {"tenant": tenant, "patients": [patient]})

    await asyncio.gather(*(write() for _ in range(12)))
    async with connection(pool, tenant) as conn:
        assert (await _head(conn, tenant, patient) or (0,))[0] == 12


async def test_a_tenant_sees_only_its_own_heads(pool: Pool) -> None:
    tenant_a, tenant_b, patient = new_tenant(), new_tenant(), new_patient()
    for tenant in (tenant_a, tenant_b):
        async with connection(pool, tenant) as conn:
            await conn.execute(INSERT_MANY, {"tenant": tenant, "patients": [patient]})
    async with connection(pool, tenant_a) as conn:
        cur = await conn.execute(
            "SELECT DISTINCT tenant_id FROM patient_heads"  # no tenant filter on purpose
        )
        assert await cur.fetchall() == [(tenant_a,)]
        assert await _head(conn, tenant_b, patient) is None
