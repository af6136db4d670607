"""event_feed (migration 0026): every statement that records events writes their positions,
a row per tenant, transaction and bucket of 1,000 ids, in the writer's transaction (another
statement of the same transaction adds its own rows); the feed reads them back in position
order, page by page; a tenant reads none of another's and rewrites none."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg import AsyncConnection, Rollback

from carelog.domain.feed import FeedFilter, FeedPosition
from carelog.storage import feed as feed_store
from carelog.storage.db import Pool, connect, connection
from tests.factories import new_patient, new_tenant

pytestmark = pytest.mark.integration

Connection = AsyncConnection[Any]

INSERT = (
    "INSERT INTO patient_events (id, tenant_id, patient_id, event_type, payload, occurred_at,"
    " recorded_by) SELECT i, %(tenant)s, %(patient)s, 'note', '{}', now(), 'test'"
    " FROM unnest(%(ids)s::bigint[]) AS i"
)


async def _new_ids(conn: Connection, count: int) -> list[int]:
    cur = await conn.execute(
        "SELECT nextval('patient_events_id_seq') FROM generate_series(1, %s)", (count,)
    )
    return [int(r[0]) for r in await cur.fetchall()]


async def _rows(conn: Connection, tenant: str) -> list[tuple[int, int, list[int]]]:
    cur = await conn.execute(
        "SELECT tx_id::text::bigint, bucket, ids FROM event_feed WHERE tenant_id = %s"
        " ORDER BY tx_id, bucket, first_id",
        (tenant,),
    )
    return [(int(t), int(b), list(ids)) for t, b, ids in await cur.fetchall()]


async def _walk(pool: Pool, tenant: str, page: int, **filters: Any) -> list[tuple[int, int]]:
    """Every position the feed hands out to ``tenant``, read ``page`` at a time (waiting up to
    5 s for older writers, of any tenant, to end)."""
    seen: list[tuple[int, int]] = []
    after = FeedPosition(0, 0)
    waited = 0
    while True:
        async with connection(pool, tenant) as conn:
            read = await feed_store.events_after(
                conn,
                tenant_id=tenant,
                after=after,
                feed=FeedFilter(filters.get("patients"), filters.get("event_types")),
                reach=None,
                visible_labels=None,
                limit=page,
            )
        if not read.events and read.waiting and waited < 100:  # an older writer still runs
            waited += 1
            await asyncio.sleep(0.05)
            continue
        if not read.events:
            return seen
        assert len(read.events) <= page
        seen += [(e.position.tx, e.position.event_id) for e in read.events]
        after = read.events[-1].position


async def test_a_statement_writes_its_ids_by_bucket_and_the_feed_reads_them_in_order(
    dba: Connection, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    ids = await _new_ids(dba, 2500)
    await dba.execute(INSERT, {"tenant": tenant, "patient": patient, "ids": ids[::-1]})
    rows = await _rows(dba, tenant)
    assert [bucket for _, bucket, _ in rows] == sorted({i // 1000 for i in ids})
    assert len({tx for tx, _, _ in rows}) == 1
    assert [i for _, _, bucket_ids in rows for i in bucket_ids] == ids  # each bucket in order
    walked = await _walk(pool, tenant, 333)
    assert walked == [(rows[0][0], i) for i in ids]


async def test_statements_of_one_transaction_share_a_bucket_and_are_read_in_order(
    dba: Connection, pool: Pool
) -> None:
    """Each statement adds its own row (nothing is rewritten); the feed sorts the bucket."""
    tenant, patient, other = new_tenant(), new_patient(), new_patient()
    ids = await _new_ids(dba, 3)
    while ids[0] // 1000 != ids[2] // 1000:  # three ids of one bucket
        ids = await _new_ids(dba, 3)
    first, second, third = ids
    async with dba.transaction():
        await dba.execute(INSERT, {"tenant": tenant, "patient": patient, "ids": [third, first]})
        await dba.execute(INSERT, {"tenant": tenant, "patient": other, "ids": [second]})
    rows = await _rows(dba, tenant)
    tx = rows[0][0]
    assert rows == [(tx, first // 1000, [first, third]), (tx, first // 1000, [second])]
    assert await _walk(pool, tenant, 1) == [(tx, first), (tx, second), (tx, third)]
    assert await _walk(pool, tenant, 2) == [(tx, first), (tx, second), (tx, third)]
    assert await _walk(pool, tenant, 5, patients=frozenset({other})) == [(tx, second)]


async def test_a_rolled_back_statement_leaves_no_positions(dba: Connection) -> None:
    tenant, patient = new_tenant(), new_patient()
    ids = await _new_ids(dba, 5)
    async with dba.transaction():
        await dba.execute(INSERT, {"tenant": tenant, "patient": patient, "ids": ids})
        raise Rollback
    assert await _rows(dba, tenant) == []


async def test_a_tenant_reads_only_its_rows_and_never_rewrites_them(
    dba: Connection, pool: Pool
) -> None:
    mine, theirs, patient = new_tenant(), new_tenant(), new_patient()
    for tenant in (mine, theirs):
        ids = await _new_ids(dba, 2)
        await dba.execute(INSERT, {"tenant": tenant, "patient": patient, "ids": ids})
    async with connection(pool, mine) as conn:
        cur = await conn.execute(
            "SELECT DISTINCT tenant_id FROM event_feed WHERE tenant_id = ANY (%s)",
            ([mine, theirs],),
        )
        assert await cur.fetchall() == [(mine,)]
    forged = (
        "INSERT INTO event_feed (tenant_id, tx_id, bucket, first_id, ids)"
        " VALUES (%(t)s, '1', 0, 1, '{1}')"
    )
    refusals = [
        (forged, theirs, psycopg.errors.InsufficientPrivilege),
        (forged, mine, psycopg.errors.InsufficientPrivilege),  # another transaction's place
        (
            "UPDATE event_feed SET ids = '{}' WHERE tenant_id = %(t)s",
            mine,
            psycopg.errors.InsufficientPrivilege,
        ),
        (
            "DELETE FROM event_feed WHERE tenant_id = %(t)s",
            mine,
            psycopg.errors.InsufficientPrivilege,
        ),
    ]
    for statement, tenant, error in refusals:
        with pytest.raises(error):
            async with connection(pool, mine) as conn:
                await conn.execute(statement, {"t": tenant})
    async with connection(pool, mine) as conn:  # the service's own writes: its rows pass
        await conn.execute(
            "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload,"
            " occurred_at, recorded_by) VALUES (%s, %s, 'note', '{}', now(), 'test')",
            (mine, patient),
        )
    assert len(await _walk(pool, mine, 10)) == 3
    assert len(await _walk(pool, theirs, 10)) == 2


async def test_a_later_commit_waits_below_an_older_running_writer(
    dba: Connection, pool: Pool, database_url: str
) -> None:
    """An event committed while an older writer still runs is not handed out (``waiting``
    says so) until that writer ends; then both come, the older transaction's first."""
    tenant, patient, other = new_tenant(), new_patient(), new_patient()
    older_ids, later_ids = await _new_ids(dba, 1), await _new_ids(dba, 1)
    async with await connect(database_url) as older, older.transaction():
        await older.execute(INSERT, {"tenant": tenant, "patient": patient, "ids": older_ids})
        # (another patient: the older writer holds its patient's version row)
        await dba.execute(INSERT, {"tenant": tenant, "patient": other, "ids": later_ids})
        async with connection(pool, tenant) as conn:
            read = await feed_store.events_after(
                conn,
                tenant_id=tenant,
                after=FeedPosition(0, 0),
                feed=FeedFilter(None, None),
                reach=None,
                visible_labels=None,
                limit=10,
            )
        assert read.events == []
        assert read.waiting
    walked = await _walk(pool, tenant, 10)
    assert [event_id for _, event_id in walked] == older_ids + later_ids
    assert walked[0][0] < walked[1][0]
