"""Use cases compose in one transaction (issue 10, item 1): the unit of work of
services/unit.py. Two use cases in one transaction commit or roll back together; a nested
transaction joins the outer one; per-transaction settings are the unit's and end with their
scope; the request counts as audited only once its audit row is committed; a single-statement
write outside a transaction commits as it runs. The tests that use the ``work`` fixture run
inside a transaction that is rolled back."""

from __future__ import annotations

import contextlib
import pathlib
from datetime import UTC, datetime
from typing import Any

import pytest

from carelog.domain.events import PatientEventCreate
from carelog.errors import Forbidden, NotFound, ServiceBusy
from carelog.services import patient_events as event_service
from carelog.services.context import get_context
from carelog.services.context.cache import ContextOptions
from carelog.services.unit import UnitAborted, Work, unit_of_work
from carelog.storage.db import Pool, connection, create_pool
from carelog.storage.patient_events import CONTEXT_PLAN, context_candidates
from tests.factories import audit_rows, count_events, make_access, new_patient, new_tenant

pytestmark = pytest.mark.integration


async def _count(pool: Pool, tenant: str, patient: str) -> int:
    async with connection(pool, tenant) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM patient_events WHERE patient_id = %s", (patient,)
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def _lab(patient: str, value: float = 7.1) -> PatientEventCreate:
    return PatientEventCreate(
        patient_id=patient,
        event_type="lab_result",
        payload={"loinc": "4548-4", "test": "HbA1c", "value": value, "unit": "%"},
        occurred_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


async def _settings(work: Work) -> dict[str, Any]:
    names = list(CONTEXT_PLAN)
    cur = await work.conn.execute(
        "SELECT " + ", ".join(f"current_setting('{name}')" for name in names)
    )
    row = await cur.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


async def test_two_use_cases_commit_together_and_audit_after_commit(pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    access = make_access(tenant)
    async with unit_of_work(pool, access) as work:
        async with work.transaction():
            first = await event_service.record_event(work, _lab(patient))
            revised = await event_service.revise_event(
                work, first.event.id, reason="unit typo", payload=_lab(patient, 7.4).payload
            )
            # Not committed yet: another connection sees nothing, and the request is not
            # yet audited (a rollback now would leave it to the middleware's failure row).
            assert await count_events(pool, tenant) == 0
            assert access.audit.written is False
        assert access.audit.written is True
    assert await count_events(pool, tenant) == 2
    assert revised.parse().supersedes == first.event.id
    rows = await audit_rows(pool, tenant)
    assert [(r["action"], r["outcome"]) for r in rows] == [
        ("create", "success"),
        ("update", "success"),
    ]


async def test_a_failure_rolls_both_back_and_leaves_the_request_unaudited(pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    access = make_access(tenant)

    async def record_then_fail(work: Work) -> None:
        async with work.transaction():
            await event_service.record_event(work, _lab(patient))
            # A nested transaction joins the outer one (no savepoint): its failure is the
            # whole unit's.
            async with work.transaction():
                await event_service.get_event(work, 2**62)

    async with unit_of_work(pool, access) as work:
        with pytest.raises(NotFound):
            await record_then_fail(work)
        assert access.audit.written is False
    assert await count_events(pool, tenant) == 0
    assert await audit_rows(pool, tenant) == []


async def test_a_single_statement_write_commits_as_it_runs(pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    access = make_access(tenant)
    async with unit_of_work(pool, access) as work:
        await event_service.record_event(work, _lab(patient))
        assert work.in_transaction is False
        assert access.audit.written is True
        assert await count_events(pool, tenant) == 1  # (seen from another connection)


async def test_settings_end_with_their_scope_inside_an_outer_transaction(work: Work) -> None:
    patient = new_patient()
    await event_service.record_event(work, _lab(patient))
    before = await _settings(work)
    assert before["enable_sort"] == "on"
    async with work.transaction(settings={"enable_sort": "off"}):
        assert (await _settings(work))["enable_sort"] == "off"
    assert await _settings(work) == before
    # The context's query runs under its plan settings, and they end with it.
    context = await get_context(work, patient, options=ContextOptions())
    assert [line.text for section in context.sections for line in section.lines]
    assert await _settings(work) == before


async def test_outermost_settings_end_with_the_transaction(pool: Pool) -> None:
    async with unit_of_work(pool, make_access(new_tenant())) as work:
        await work.connection()
        before = await _settings(work)
        async with work.transaction(settings=CONTEXT_PLAN):
            assert await _settings(work) == dict(CONTEXT_PLAN)
        assert await _settings(work) == before


async def test_a_pipelined_scope_reads_its_query_after_it_ends(pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    access = make_access(tenant)
    async with unit_of_work(pool, access) as work:
        await event_service.record_event(work, _lab(patient))
        context = await get_context(work, patient, options=ContextOptions())
    assert context.patient_id == patient
    lines = [line.text for section in context.sections for line in section.lines]
    assert any("HbA1c" in line for line in lines)


async def test_the_fixtures_transaction_is_rolled_back(pool: Pool) -> None:
    access = make_access(new_tenant())
    patient = new_patient()
    async with unit_of_work(pool, access) as work:
        async with work.transaction(rollback=True):
            recorded = await event_service.record_event(work, _lab(patient))
            assert (await event_service.get_event(work, recorded.event.id)).id == recorded.event.id
        # Rolled back: nothing stored, and the request was not audited.
        assert access.audit.written is False
    async with connection(pool, access.tenant_id) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM patient_events WHERE patient_id = %s", (patient,)
        )
        assert await cur.fetchone() == (0,)


async def test_a_failure_caught_inside_the_transaction_still_rolls_it_back(pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    access = make_access(tenant)

    async def swallow_a_joined_failure(work: Work) -> None:
        async with work.transaction():
            await event_service.record_event(work, _lab(patient))
            try:
                async with work.transaction():
                    await event_service.record_event(work, _lab(patient, 9.9))
                    await event_service.get_event(work, 2**62)
            except NotFound:
                pass  # (a use case must not do this: the unit refuses to commit)

    async def swallow_a_statement_error(work: Work) -> None:
        async with work.transaction():
            await event_service.record_event(work, _lab(patient))
            with contextlib.suppress(Exception):  # (the point of the test)
                await work.conn.execute("SELECT 1 / 0")

    for wrong in (swallow_a_joined_failure, swallow_a_statement_error):
        async with unit_of_work(pool, access) as work:
            with pytest.raises(UnitAborted):
                await wrong(work)
            assert access.audit.written is False
        assert await _count(pool, tenant, patient) == 0


async def test_a_savepoint_fails_alone(pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    access = make_access(tenant)
    async with unit_of_work(pool, access) as work:
        async with work.transaction():
            for value in (7.0, None, 7.2):
                try:
                    async with work.savepoint():
                        await event_service.record_event(work, _lab(patient, 7.1))
                        if value is None:
                            await work.conn.execute("SELECT 1 / 0")
                except Exception:  # noqa: S112 (one entry of a batch failed: go on)
                    continue
        assert access.audit.written is True
    assert await _count(pool, tenant, patient) == 2


async def test_a_joined_scope_cannot_roll_back_alone(work: Work) -> None:
    with pytest.raises(ValueError, match="outermost"):
        async with work.transaction(rollback=True):
            pass


async def test_a_custom_setting_is_put_back_by_a_joined_scope(work: Work) -> None:
    async with work.transaction(settings={"carelog.unit_test": "on"}):
        cur = await work.conn.execute("SELECT current_setting('carelog.unit_test')")
        assert await cur.fetchone() == ("on",)
    cur = await work.conn.execute("SELECT coalesce(current_setting('carelog.unit_test', true), '')")
    assert await cur.fetchone() == ("",)


async def test_a_pipelined_scope_that_fails_leaves_a_usable_connection(pool: Pool) -> None:
    access = make_access(new_tenant())

    async def over_its_time(work: Work) -> None:
        async with work.transaction(settings={"statement_timeout": "50"}, pipelined=True):
            await work.conn.execute("SELECT pg_sleep(2)")

    async with unit_of_work(pool, access) as work:
        cur = await (await work.connection()).execute("SHOW statement_timeout")
        before = await cur.fetchone()
    with pytest.raises(ServiceBusy):  # (QueryCanceled, as storage.db maps it)
        async with unit_of_work(pool, access) as work:
            await over_its_time(work)
    async with unit_of_work(pool, access) as work:
        conn = await work.connection()
        cur = await conn.execute("SHOW statement_timeout")
        assert await cur.fetchone() == before
        assert conn.info.transaction_status.name == "IDLE"


async def test_checks_that_need_no_database_come_before_the_connection(
    database_url: str,
) -> None:
    """A key limited to one patient, writing another, is refused without the database:
    the unit takes its connection only when a use case first asks for it."""
    closed = create_pool(database_url)  # never opened: any checkout would fail
    access = make_access(new_tenant())
    limited = type(access)(
        access.principal.model_copy(update={"patients": frozenset({"P-only"})}), access.audit
    )
    async with unit_of_work(closed, limited) as work:
        with pytest.raises(Forbidden):
            await event_service.record_event(work, _lab(new_patient()))
        with pytest.raises(NotFound):
            await get_context(work, new_patient(), options=ContextOptions())


async def test_the_context_query_scope_is_one_round_trip(
    pool: Pool, tmp_path: pathlib.Path
) -> None:
    """BEGIN, the plan settings, the candidate query and COMMIT go with one Sync, read from
    libpq's protocol trace of the connection."""
    tenant, patient = new_tenant(), new_patient()
    access = make_access(tenant)
    async with unit_of_work(pool, access) as work:
        await event_service.record_event(work, _lab(patient))
        conn = await work.connection()
        trace = tmp_path / "trace.txt"
        with trace.open("w") as out:
            conn.pgconn.trace(out.fileno())
            try:
                async with work.transaction(settings=CONTEXT_PLAN, pipelined=True):
                    sent = await context_candidates(
                        conn, tenant_id=tenant, patient_id=patient, as_of=datetime.now(UTC)
                    )
            finally:
                conn.pgconn.untrace()
        found = await sent.read()
    assert len(found.events) == 1
    sent_messages = [
        line.split("\t")[3] for line in trace.read_text().splitlines() if "\tF\t" in line
    ]
    assert sent_messages.count("Sync") == 1, sent_messages
