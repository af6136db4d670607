"""``carelog workflows rebuild``: make every case row again from its transition events.

A case's row is a projection of its ``workflow_transition`` events; this folds the events of
each case again (the same fold the service's idempotent replays use) and compares the result
with the stored row. A row that differs, or is missing, is written again; with ``check`` only
the differences are reported. Rows that no event backs are reported, never deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from carelog.domain.workflows.case import TransitionRecord
from carelog.domain.workflows.definition import Workflow
from carelog.services.workflows.reads import replay_case
from carelog.storage import workflows as store
from carelog.storage.db import Pool, connection
from carelog.storage.workflows import Visibility


@dataclass(slots=True)
class RebuildReport:
    """What a rebuild of one tenant found (and, unless it only checked, fixed)."""

    tenant_id: str
    cases: int = 0
    # Rows that differed from their events' replay (rewritten unless checking).
    differed: list[str] = field(default_factory=list)
    # Cases with events but no row (written unless checking).
    missing: list[str] = field(default_factory=list)
    # Rows with no transition event behind them (reported only).
    orphaned: list[str] = field(default_factory=list)
    # Transition events of a workflow this service does not know.
    unknown: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.differed or self.missing or self.orphaned or self.unknown)


async def rebuild(
    pool: Pool,
    workflows: Mapping[str, Workflow],
    *,
    tenant_id: str,
    workflow: str | None = None,
    case_id: str | None = None,
    check: bool = False,
) -> RebuildReport:
    """Rebuild (or, with ``check``, compare) the tenant's case rows from their events, in one
    transaction: of every workflow, of ``workflow``, or the one case ``case_id``."""
    report = RebuildReport(tenant_id)
    everything = Visibility(tenant_id, None, None)
    async with connection(pool, tenant_id) as conn, conn.transaction():
        logged = await store.tenant_transitions(
            conn, tenant_id=tenant_id, workflow=workflow, case_id=case_id
        )
        cases: dict[str, tuple[str, list[TransitionRecord]]] = {}
        for entry in logged:
            cases.setdefault(entry.record.case_id, (entry.patient_id, []))[1].append(entry.record)
        for case, (patient_id, records) in cases.items():
            definition = workflows.get(records[0].workflow)
            if definition is None:
                report.unknown.append(case)
                continue
            report.cases += 1
            made = replay_case(definition, patient_id, records)
            assert made is not None
            stored = (
                await store.get_case(
                    conn, seen_by=everything, workflow=definition.name,
                    case_id=UUID(case), audit=None,
                )
            ).value  # fmt: skip
            if stored == made:
                continue
            (report.missing if stored is None else report.differed).append(case)
            if not check:
                await store.insert_case(conn, tenant_id=tenant_id, case=made, replace=True)
        rows = await store.case_ids(conn, tenant_id=tenant_id, workflow=workflow, case_id=case_id)
        report.orphaned = [row for row in rows if row not in cases]
    return report


async def rebuild_all(
    pool: Pool,
    workflows: Mapping[str, Workflow],
    *,
    workflow: str | None = None,
    check: bool = False,
) -> list[RebuildReport]:
    """Rebuild every tenant's case rows (operators)."""
    async with connection(pool) as conn:
        tenants = await store.workflow_tenants(conn)
    return [
        await rebuild(pool, workflows, tenant_id=tenant, workflow=workflow, check=check)
        for tenant in tenants
    ]
