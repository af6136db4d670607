"""The export jobs and their files (storage.jobs, migration 0019): per tenant under row-level
security; the claim, the one statement across tenants, hands each job to one worker
(SKIP LOCKED) and takes a stale one back; a part is written only by the job's own worker."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from carelog.storage import jobs as job_store
from carelog.storage.db import Connection, Pool, connection
from tests.factories import new_tenant

pytestmark = pytest.mark.integration


async def _queued(pool: Pool, tenant: str) -> str:
    job_id = uuid.uuid4().hex
    async with connection(pool, tenant) as conn:
        await job_store.create_export(
            conn, tenant_id=tenant, job_id=job_id, principal="key:test", request="r",
            types=None, since=None, patients=None, visible_labels=None,
        )  # fmt: skip
    return job_id


async def _drain(pool: Pool, dba: Connection) -> None:
    # Other tests' queued jobs: out of the way, so that a claim here finds this test's.
    await dba.execute(
        "UPDATE export_jobs SET state = 'failed' WHERE state IN ('queued', 'running')"
    )


async def test_jobs_and_files_are_tenant_rows(pool: Pool, dba: Connection) -> None:
    tenant, other = new_tenant(), new_tenant()
    job_id = await _queued(pool, tenant)
    async with connection(pool, other) as conn:
        cur = await conn.execute("SELECT count(*) FROM export_jobs")  # no filter on purpose
        assert await cur.fetchone() == (0,)
        assert await job_store.get_export(
            conn, tenant_id=tenant, job_id=job_id, principal=None
        ) is None  # fmt: skip
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            await conn.execute(
                "INSERT INTO export_files (tenant_id, job_id, resource_type, part, count, body)"
                " VALUES (%s, %s, 'Patient', 1, 0, '')",
                (tenant, job_id),
            )
        assert not await job_store.delete_export(
            conn, tenant_id=tenant, job_id=job_id, principal="key:test"
        )
    async with connection(pool, tenant) as conn:
        job = await job_store.get_export(conn, tenant_id=tenant, job_id=job_id, principal=None)
        assert job is not None
        assert job.state == "queued"
        assert await job_store.get_export(
            conn, tenant_id=tenant, job_id=job_id, principal="key:another"
        ) is None  # fmt: skip
    await dba.execute("DELETE FROM export_jobs WHERE id = %s", (job_id,))


async def test_each_job_goes_to_one_worker_and_a_stale_one_comes_back(
    pool: Pool, dba: Connection
) -> None:
    await _drain(pool, dba)
    tenants = [new_tenant(), new_tenant()]
    jobs = {await _queued(pool, tenant): tenant for tenant in tenants}

    async def claim(worker: str) -> job_store.Claimed | None:
        async with connection(pool) as conn:  # a connection speaking for no tenant
            return await job_store.claim_export(conn, worker=worker, stale_seconds=60)

    first, second, third = await asyncio.gather(claim("w1"), claim("w2"), claim("w3"))
    claimed = [c for c in (first, second, third) if c is not None]
    assert sorted(c.job_id for c in claimed) == sorted(jobs)  # each once, across tenants
    assert {c.tenant_id for c in claimed} == set(tenants)

    one = claimed[0]
    owner = next(w for w, c in zip(("w1", "w2", "w3"), (first, second, third), strict=True)
                 if c == one)  # fmt: skip
    ids = {"tenant_id": one.tenant_id, "job_id": one.job_id}
    async with connection(pool, one.tenant_id) as conn:
        assert await job_store.start_export(conn, **ids, worker="intruder") is None
        written = await job_store.write_export_file(
            conn, **ids, worker="intruder", resource_type="Patient", part=1, count=1,
            body=b"{}\n", progress="x",
        )  # fmt: skip
        assert not written
        assert await job_store.write_export_file(
            conn, **ids, worker=owner, resource_type="Patient", part=1, count=1,
            body=b"{}\n", progress="1 patient",
        )  # fmt: skip
    # Its worker died: the heartbeat goes stale, and the next claim takes the job again.
    await dba.execute(
        "UPDATE export_jobs SET heartbeat_at = now() - interval '2 minutes' WHERE id = %s",
        (one.job_id,),
    )
    again = await claim("w4")
    assert again == one
    async with connection(pool, one.tenant_id) as conn:
        reach = await job_store.start_export(conn, **ids, worker="w4")
        assert reach is not None
        assert await job_store.list_export_files(conn, **ids) == []  # from the start again
        assert not await job_store.beat_export(conn, **ids, worker=owner, progress="late")
    for job_id in jobs:
        await dba.execute("DELETE FROM export_jobs WHERE id = %s", (job_id,))
