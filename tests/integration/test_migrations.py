"""Forward-only migrations: applied once under a lock, checksummed, and the log append-only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
import pytest

from carelog.domain.audit import UNKNOWN_TENANT, AuditContext, check_chain
from carelog.errors import MigrationError
from carelog.storage import audit as audit_store
from carelog.storage.db import Connection, connect
from carelog.storage.migrate import available_migrations, is_up_to_date, migrate
from carelog.storage.queries import Queries

load = Queries("carelog.storage.patient_events")

pytestmark = pytest.mark.integration


async def test_concurrent_migrations_apply_each_file_once(
    make_database: Callable[[], str],
) -> None:
    url = make_database()
    conns = [await connect(url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [m.version for result in results for m in result]
        assert sorted(applied) == [m.version for m in available_migrations()]
        cur = await conns[0].execute("SELECT version, checksum FROM schema_migrations")
        rows = await cur.fetchall()
        assert {v: c for v, c in rows} == {m.version: m.checksum for m in available_migrations()}
        assert await is_up_to_date(conns[0])
        assert await migrate(conns[0]) == []
    finally:
        for conn in conns:
            await conn.close()


async def test_an_edited_migration_is_an_error(make_database: Callable[[], str]) -> None:
    url = make_database()
    async with await connect(url) as conn:
        await migrate(conn)
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        assert not await is_up_to_date(conn)
        with pytest.raises(MigrationError, match="edited after it was applied"):
            await migrate(conn)


async def test_an_unknown_applied_migration_is_an_error(make_database: Callable[[], str]) -> None:
    url = make_database()
    async with await connect(url) as conn:
        await migrate(conn)
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')"
        )
        with pytest.raises(MigrationError, match="does not know"):
            await migrate(conn)


async def test_a_fresh_database_is_not_ready(make_database: Callable[[], str]) -> None:
    async with await connect(make_database()) as conn:
        assert not await is_up_to_date(conn)


async def test_event_log_refuses_update_delete_truncate(dba: Connection) -> None:
    """Even the owner (and a superuser) cannot change the log: the trigger refuses."""
    cur = await dba.execute(
        "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
        " recorded_by) VALUES ('t-append', 'P-1', 'x', '{}', now(), 'test') RETURNING id"
    )
    row = await cur.fetchone()
    assert row is not None
    for statement in [
        "UPDATE patient_events SET payload = '{\"x\": 1}' WHERE id = %(id)s",
        "DELETE FROM patient_events WHERE id = %(id)s",
    ]:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            await dba.execute(statement, {"id": row[0]})
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        await dba.execute("TRUNCATE patient_events")
    cur = await dba.execute("SELECT payload FROM patient_events WHERE id = %s", (row[0],))
    assert await cur.fetchone() == ({},)


async def test_list_query_uses_the_timeline_index(dba: Connection) -> None:
    """O(page), not O(history): for a patient with 2,000 events the plan is a bounded index
    scan, never a sort of all the rows."""
    await dba.execute(
        "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
        " recorded_by) SELECT 't-plan', 'P-' || (g % 10), 'x', '{}',"
        " now() - make_interval(secs => g), 'test' FROM generate_series(1, 20000) AS g"
    )
    await dba.execute("ANALYZE patient_events")
    # Plan it as the service runs it: as carelog_app, under row-level security.
    await dba.execute("SET ROLE carelog_app")
    await dba.execute("SELECT set_config('carelog.tenant_id', 't-plan', false)")

    lists: list[tuple[str, dict[str, object]]] = [
        ("list_events", {"event_types": None}),
        ("list_events_by_type", {"event_types": ["x"]}),
    ]
    for name, extra in lists:
        cur = await dba.execute(
            b"EXPLAIN " + load(name),
            {
                "tenant_id": "t-plan",
                "patient_id": "P-7",
                "since": None,
                "until": None,
                "after_at": None,
                "after_id": None,
                "limit": 21,
                "page_size": 20,
                "visible_labels": ["BH"],  # a principal that may see only one label
                "history": False,
                "as_of": None,
                **AuditContext(request_id="plan", client_address=None).params(),
                **extra,
            },
        )
        plan = "\n".join(r[0] for r in await cur.fetchall())
        assert "Seq Scan" not in plan, plan
        # The page itself is a bounded index scan; only its <= 21 rows may be sorted.
        page = plan.split("CTE page", 1)[1].split("CTE audit", 1)[0]
        assert "Limit" in page, plan
        assert "Index Scan" in page, plan
        assert "Sort" not in page or name == "list_events_by_type", plan


async def test_audit_rows_written_before_0015_still_verify(
    make_database: Callable[[], str],
) -> None:
    """0015 adds the counted rows' fields to the chained content: a row without them must
    hash exactly as before, or every trail written earlier would stop verifying."""
    async with await connect(make_database()) as conn:
        await _migrate_before(conn, 15)
        audit = AuditContext(request_id="before-0015", client_address="192.0.2.1", route="/x")
        for status in (401, 403):
            await audit_store.insert_audit_event(
                conn, audit=audit, action="read", outcome="denied", status=status
            )
        before = await audit_store.chain_rows(conn, tenant_id=UNKNOWN_TENANT)
        assert [m.version for m in await migrate(conn)] == [
            m.version for m in available_migrations() if m.version >= 15
        ]
        after = await audit_store.chain_rows(conn, tenant_id=UNKNOWN_TENANT)
        assert [r.expected_hash for r in after] == [r.expected_hash for r in before]
        heads = await audit_store.chain_heads(conn, tenant_id=UNKNOWN_TENANT)
        assert check_chain(UNKNOWN_TENANT, after, heads).ok


async def _migrate_before(conn: Connection, version: int) -> None:
    """Apply the migrations before ``version``, as an older release did."""
    await conn.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for migration in available_migrations():
        if migration.version >= version:
            break
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )


async def test_0026_carries_the_feed_positions_over(make_database: Callable[[], str]) -> None:
    """The log's rows before 0026 keep their feed positions: (tx_id, id) by bucket, the rows
    written before 0022 at tx_id 0, and events and ids in the same order as before."""
    async with await connect(make_database()) as conn:
        await _migrate_before(conn, 26)
        insert = (
            "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload,"
            " occurred_at, recorded_by, tx_id) SELECT 't-0026', 'P-1', 'note', '{}', now(),"
            " 'test', COALESCE(%s::xid8, pg_current_xact_id()) FROM generate_series(1, %s)"
        )
        await conn.execute(insert, ("0", 3))  # as if written before 0022
        await conn.execute(insert, (None, 1500))
        await conn.execute(insert.replace("'t-0026'", "'t-0026-b'"), (None, 2))
        await conn.execute(insert, (None, 2))
        cur = await conn.execute(
            "SELECT tx_id::text::bigint, id FROM patient_events ORDER BY tx_id, id"
        )
        before = [(int(t), int(i)) for t, i in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT tx_id::text::bigint, id FROM patient_events WHERE tenant_id = 't-0026'"
            " ORDER BY tx_id, id"
        )
        this_tenants = [(int(t), int(i)) for t, i in await cur.fetchall()]
        await migrate(conn)
        cur = await conn.execute(  # read back as the feed reads them, one tenant's
            "SELECT tx_id::text::bigint, id FROM carelog_feed_after('t-0026', '0', 0,"
            " pg_snapshot_xmin(pg_current_snapshot()), NULL, NULL, NULL, 5000)"
        )
        assert [(int(t), int(i)) for t, i in await cur.fetchall()] == this_tenants
        cur = await conn.execute(
            "SELECT tx_id::text::bigint, bucket, ids FROM event_feed ORDER BY tx_id, bucket"
        )
        rows = await cur.fetchall()
        assert [(int(t), int(i)) for t, _, ids in rows for i in ids] == before
        assert all(list(ids) == sorted(ids) for _, _, ids in rows)
        assert all({i // 1000 for i in ids} == {b} for _, b, ids in rows)
        assert before[0][0] == 0
        cur = await conn.execute(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'patient_events' AND column_name = 'tx_id'"
        )
        assert await cur.fetchone() == (0,)
