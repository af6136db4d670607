"""Row-level security: the database's second lock behind the application's tenant filter."""

from __future__ import annotations

import psycopg
import pytest

from carelog.services.auth.keys import list_keys
from carelog.storage import db
from carelog.storage.db import Pool, connection
from tests.factories import make_token, new_patient, new_tenant

pytestmark = pytest.mark.integration

INSERT = (
    "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
    " recorded_by) VALUES (%s, %s, 'x', '{}', now(), 'test')"
)


async def test_a_query_without_a_tenant_filter_sees_only_its_tenant(pool: Pool) -> None:
    tenant_a, tenant_b = new_tenant(), new_tenant()
    for tenant in (tenant_a, tenant_b):
        async with connection(pool, tenant) as conn:
            for _ in range(3):
                await conn.execute(INSERT, (tenant, new_patient()))
    async with connection(pool, tenant_a) as conn:
        cur = await conn.execute(
            "SELECT DISTINCT tenant_id FROM patient_events"  # no tenant filter on purpose
        )
        assert await cur.fetchall() == [(tenant_a,)]
        cur = await conn.execute(
            "SELECT count(*) FROM patient_events WHERE tenant_id = %s", (tenant_b,)
        )
        assert await cur.fetchone() == (0,)
        cur = await conn.execute("SELECT DISTINCT tenant_id FROM audit_events")
        assert {row[0] for row in await cur.fetchall()} <= {tenant_a}


async def test_no_stated_tenant_sees_nothing(pool: Pool) -> None:
    tenant = new_tenant()
    async with connection(pool, tenant) as conn:
        await conn.execute(INSERT, (tenant, new_patient()))
    async with pool.connection() as conn:
        await conn.execute("RESET carelog.tenant_id")
        try:
            cur = await conn.execute("SELECT count(*) FROM patient_events")
            assert await cur.fetchone() == (0,)
        finally:
            # Leave the pool's connection as its tenant cache expects: stated again on use.
            db._stated_tenant.pop(conn, None)


async def test_writing_into_another_tenant_is_refused(pool: Pool) -> None:
    tenant_a, tenant_b = new_tenant(), new_tenant()
    async with connection(pool, tenant_a) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            await conn.execute(INSERT, (tenant_b, new_patient()))


async def test_the_service_role_is_not_the_owner(pool: Pool) -> None:
    async with connection(pool, new_tenant()) as conn:
        cur = await conn.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert await cur.fetchone() == ("carelog_app", False, False)


async def test_keys_and_tenants_are_tenant_rows_too(pool: Pool) -> None:
    tenant_a, tenant_b = new_tenant(), new_tenant()
    for tenant in (tenant_a, tenant_b):
        await make_token(pool, tenant)
    async with connection(pool, tenant_a) as conn:
        cur = await conn.execute("SELECT DISTINCT tenant_id FROM api_keys")  # no filter
        assert await cur.fetchall() == [(tenant_a,)]
        cur = await conn.execute("SELECT tenant_id FROM tenants")
        assert await cur.fetchall() == [(tenant_a,)]
    assert [k.tenant_id for k in await list_keys(pool, tenant_id=tenant_b)] == [tenant_b]


async def test_a_connection_for_no_tenant_speaks_for_none(pool: Pool, database_url: str) -> None:
    """A pooled connection keeps the tenant it last spoke for; asked for with no tenant (the
    key lookup, health, flushes), it must not still see that tenant's rows. (``pool``: the
    app has migrated the database.)"""
    tenant = new_tenant()
    single = db.create_pool(database_url, min_size=1, max_size=1, timeout=10)
    await single.open(wait=True, timeout=30)
    try:
        async with connection(single, tenant) as conn:
            await conn.execute(INSERT, (tenant, new_patient()))
            cur = await conn.execute("SELECT count(*) FROM patient_events")
            assert await cur.fetchone() == (1,)
        async with connection(single) as conn:  # the same connection: the pool has one
            cur = await conn.execute("SELECT count(*) FROM patient_events")
            assert await cur.fetchone() == (0,)
        async with connection(single, tenant) as conn:  # and back
            cur = await conn.execute("SELECT count(*) FROM patient_events")
            assert await cur.fetchone() == (1,)
    finally:
        await single.close()
