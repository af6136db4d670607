"""Build a patient's context for an agent: fetch the events it can use (chosen in SQL, so
only those are rendered and parsed), build it (pure), audit the read."""

from __future__ import annotations

from datetime import UTC, datetime

from carelog.domain.audit import AuditAction, AuditContext, AuditOutcome
from carelog.domain.context import PatientContext, build_context
from carelog.domain.principals import Principal
from carelog.errors import NotFound
from carelog.storage import audit as audit_store
from carelog.storage import events as event_store
from carelog.storage.db import Pool, connection


async def get_context(
    pool: Pool,
    principal: Principal,
    patient_id: str,
    *,
    audit: AuditContext,
    visible_labels: frozenset[str] | None,
    as_of: datetime | None = None,
    since: datetime | None = None,
    types: frozenset[str] | None = None,
    max_tokens: int | None = None,
) -> PatientContext:
    """The patient's context; the audit row names every event the context cites."""
    if not principal.may_reach(patient_id):
        raise NotFound("No events for that patient.")
    # Always pinned to a time, so an agent can store it with its decision and a reviewer can
    # ask for exactly the same context later (as_of replays what had been recorded by then).
    as_of = as_of or datetime.now(UTC)
    async with connection(pool, principal.tenant_id) as conn:
        events = await event_store.context_candidates(
            conn, tenant_id=principal.tenant_id, patient_id=patient_id, as_of=as_of
        )
        if not events and not await event_store.patient_has_events(
            conn, tenant_id=principal.tenant_id, patient_id=patient_id
        ):
            raise NotFound("No events for that patient.")
        context = build_context(
            patient_id,
            events,
            as_of=as_of,
            visible_labels=visible_labels,
            since=since,
            types=types,
            max_tokens=max_tokens,
        )
        cited = sorted({c for s in context.sections for line in s.lines for c in line.cites})
        await audit_store.insert_audit_event(
            conn,
            audit=audit,
            action=AuditAction.READ,
            outcome=AuditOutcome.SUCCESS,
            patient_id=patient_id,
            event_ids=cited,
            result_count=len(cited),
        )
        audit.written = True
    return context
