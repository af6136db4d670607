"""Build a patient's context for an agent: fetch the events it can use (chosen in SQL, so
only those are rendered and parsed), build it (pure), audit the read. Repeat reads of an
unchanged patient are served from the per-process cache (services/context/cache.py): the
statement that writes their audit row also confirms the patient's version."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from carelog.domain.audit import AuditAction, AuditOutcome
from carelog.domain.context import PatientContext
from carelog.errors import NotFound
from carelog.services import workflows as workflow_service
from carelog.services.context.cache import Built, Candidates, ContextCache, ContextOptions
from carelog.services.unit import Work
from carelog.storage import audit as audit_store
from carelog.storage import patient_events as event_store


async def get_context(
    work: Work,
    patient_id: str,
    *,
    options: ContextOptions,
    as_of: datetime | None = None,
    cache: ContextCache | None = None,
    now: datetime | None = None,
) -> PatientContext:
    """The patient's context, of what the access may see (``options`` says what else it
    asks for); the audit row names every event the context cites. ``now``: the time its
    open items' overdue flags are computed at (the runtime's clock; default: the pinned
    time)."""
    access = work.access
    if not access.principal.may_reach(patient_id):
        raise NotFound("No events for that patient.")
    tenant_id = access.tenant_id
    options = replace(options, visible_labels=access.visible_labels)
    cached = (
        cache.get(tenant_id, patient_id, options) if cache is not None and as_of is None else None
    )
    if cache is not None and cached is not None:
        built = cached.context(options, as_of=datetime.now(UTC), now=now)
        if await _audit(work, patient_id, built, if_version=cached.version):
            cache.hits += 1
            return built.context
    built = await _build(work, patient_id, options, as_of, cache, now)
    await _audit(work, patient_id, built)
    return built.context


async def _audit(
    work: Work, patient_id: str, built: Built, *, if_version: int | None = None
) -> bool:
    written = await audit_store.insert_audit_event(
        await work.connection(),
        audit=work.access.audit,
        action=AuditAction.READ,
        outcome=AuditOutcome.SUCCESS,
        patient_id=patient_id,
        event_ids=built.cited,
        result_count=len(built.cited),
        if_version=if_version,
    )
    work.note_audited(written)
    return written


async def _build(
    work: Work,
    patient_id: str,
    options: ContextOptions,
    as_of: datetime | None,
    cache: ContextCache | None,
    now: datetime | None,
) -> Built:
    # Always pinned to a time, so an agent can store it with its decision and a reviewer can
    # ask for exactly the same context later (as_of replays what had been recorded by then).
    pinned = as_of or datetime.now(UTC)
    tenant_id = work.access.tenant_id
    # One snapshot, under the query's plan settings: BEGIN, the settings, the query and
    # COMMIT in one round trip (the row is read once the scope has ended).
    async with work.transaction(settings=event_store.CONTEXT_PLAN, pipelined=True):
        sent = await event_store.context_candidates(
            work.conn,
            tenant_id=tenant_id,
            patient_id=patient_id,
            as_of=pinned,
            since=options.since,
            until=options.until,
            types=options.types,
            visible_labels=options.visible_labels,
        )
    found = await sent.read()
    if found.version is None:
        raise NotFound("No events for that patient.")
    cases = await workflow_service.open_cases(work, patient_id, as_of=as_of)
    candidates = Candidates(
        patient_id, found.version, pinned, found.withheld, found.events, open_cases=cases
    )
    if cache is not None and as_of is None:
        cache.misses += 1
        # Reusable for later times only if nothing in the snapshot was recorded after pinned.
        if found.changed_at is not None and found.changed_at <= pinned:
            cache.put(tenant_id, patient_id, options, candidates)
    return candidates.context(options, as_of=pinned, now=now if as_of is None else as_of)
