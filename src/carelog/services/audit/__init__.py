"""The audit trail's use cases: record an attempt, search, verify the chains."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from carelog.domain.audit import (
    AuditAction,
    AuditContext,
    AuditEvent,
    AuditOutcome,
    ChainReport,
    check_chain,
)
from carelog.errors import ServiceUnavailable
from carelog.services.unit import Work
from carelog.storage import audit as audit_store
from carelog.storage.db import Pool, connection

_log = logging.getLogger("carelog.audit")


def outcome_for(status: int) -> AuditOutcome:
    """The outcome an HTTP status stands for."""
    if status < 400:
        return AuditOutcome.SUCCESS
    if status in (401, 403, 429):
        return AuditOutcome.DENIED
    return AuditOutcome.FAILED


async def record_attempt(
    pool: Pool,
    audit: AuditContext,
    *,
    action: AuditAction,
    status: int,
    patient_id: str | None = None,
    event_ids: list[int] | None = None,
) -> None:
    """Audit a request that ended without its own audit row (denied, failed).

    Best effort by necessity: when the database is down there is nowhere to write it, and
    the request has already been answered; that is logged (ids only) and counted there.
    """
    try:
        async with connection(pool, audit.tenant_id) as conn:
            await audit_store.insert_audit_event(
                conn,
                audit=audit,
                action=action,
                outcome=outcome_for(status),
                status=status,
                patient_id=patient_id,
                event_ids=event_ids,
            )
        audit.written = True
    except ServiceUnavailable:
        _log.error("audit row not written: database unavailable rid=%s", audit.request_id)


async def record_success(
    work: Work,
    action: AuditAction,
    *,
    patient_id: str | None,
    event_ids: list[int],
) -> None:
    """Write the audit row of a success that its own statement did not audit (an idempotent
    replay, an empty answer), in the use case's unit of work."""
    written = await audit_store.insert_audit_event(
        await work.connection(),
        audit=work.access.audit,
        action=action,
        outcome=AuditOutcome.SUCCESS,
        patient_id=patient_id,
        event_ids=event_ids,
        result_count=len(event_ids),
    )
    work.note_audited(written)


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of audit rows and where the next starts."""

    events: list[AuditEvent]
    next_after: tuple[datetime, int, int] | None


async def search(
    work: Work,
    *,
    filters: dict[str, object],
    after: tuple[datetime, int, int] | None,
    limit: int,
) -> AuditPage:
    """A page of the caller's tenant's audit rows; reading the trail is audited too.

    A patient-limited principal sees only the rows of its own patients (with their event
    ids), and of the rows naming no patient only its own: asking for another patient gives
    an empty page, as for a patient with no rows, so the answer tells nothing about them.
    """
    patient = filters.get("patient_id")
    access = work.access
    rows = await audit_store.list_audit_events(
        await work.connection(),
        tenant_id=access.tenant_id,
        filters=filters,
        after=after,
        limit=limit + 1,
        patients=access.principal.patients,
        reader=access.principal.name,
    )
    page = rows[:limit]
    written = await audit_store.insert_audit_event(
        work.conn,
        audit=access.audit,
        action=AuditAction.SEARCH,
        outcome=AuditOutcome.SUCCESS,
        patient_id=patient if isinstance(patient, str) else None,
        result_count=len(page),
    )
    work.note_audited(written)
    next_after = None
    if len(rows) > limit:
        last = page[-1]
        next_after = (last.recorded_at, last.lane, last.seq)
    return AuditPage(page, next_after)


async def verify(pool: Pool, tenant_id: str) -> ChainReport:
    """Check every link of the tenant's audit chains."""
    async with connection(pool, tenant_id) as conn:
        rows = await audit_store.chain_rows(conn, tenant_id=tenant_id)
        heads = await audit_store.chain_heads(conn, tenant_id=tenant_id)
    return check_chain(tenant_id, rows, heads)


async def verify_all(pool: Pool) -> list[ChainReport]:
    """Check every tenant's chains (operators)."""
    async with connection(pool) as conn:
        tenants = await audit_store.audited_tenants(conn)
    return [await verify(pool, tenant) for tenant in tenants]
