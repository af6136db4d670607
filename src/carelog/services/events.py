"""Record and read patient events for an authenticated principal, always within its tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from carelog.domain.access import Access
from carelog.domain.audit import AuditAction
from carelog.domain.events import EventDocument, EventQuery, PatientEventCreate
from carelog.errors import Conflict, EventSuperseded, Forbidden, IdempotencyKeyReused, NotFound
from carelog.services.audit import record_success
from carelog.services.event_types import check_event
from carelog.storage import events as event_store
from carelog.storage.db import Pool, connection

AMENDED = "amended"
RETRACTED = "entered-in-error"


@dataclass(frozen=True, slots=True)
class Recorded:
    """The stored event, and whether it was a replay of an earlier idempotent request."""

    event: EventDocument
    replayed: bool


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events, newest first, and where the next page starts (if there is one)."""

    events: list[EventDocument]
    next_after: tuple[datetime, int] | None
    withheld: int = 0


async def record_event(
    pool: Pool,
    access: Access,
    event: PatientEventCreate,
    *,
    idempotency_key: str | None = None,
) -> Recorded:
    """Append ``event`` to the principal's tenant's log, audited in the same statement.

    With an idempotency key, a retry of the same request returns the first event and writes
    nothing but its audit row; the same key with a different request raises
    :class:`IdempotencyKeyReused`. The database's primary key on the key decides, so
    concurrent retries are safe too.
    """
    if not access.principal.may_reach(event.patient_id):
        raise Forbidden("This key may not record events for that patient.")
    async with connection(pool, access.tenant_id) as conn:
        await check_event(conn, access.tenant_id, event.event_type, event.payload)
        if idempotency_key is None:
            stored = await event_store.insert_event(
                conn, principal=access.principal, event=event, audit=access.audit
            )
            return Recorded(stored, replayed=False)
        request_hash = event.request_hash()
        inserted = await event_store.insert_event_idempotent(
            conn,
            principal=access.principal,
            event=event,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            audit=access.audit,
        )
        if inserted is not None:
            return Recorded(inserted, replayed=False)
        first = await event_store.get_idempotent_event(
            conn, tenant_id=access.tenant_id, idempotency_key=idempotency_key
        )
        if first is None or first.request_hash != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request body."
            )
        await record_success(
            conn,
            access,
            AuditAction.CREATE,
            patient_id=event.patient_id,
            event_ids=[first.event.id],
        )
    return Recorded(first.event, replayed=True)


async def get_event(pool: Pool, access: Access, event_id: int) -> EventDocument:
    """One event of the principal's tenant; :class:`NotFound` for any other id."""
    async with connection(pool, access.tenant_id) as conn:
        event = await event_store.get_event(
            conn,
            tenant_id=access.tenant_id,
            event_id=event_id,
            patients=access.principal.patients,
            audit=access.audit,
            visible_labels=access.visible_labels,
        )
    if event is None:
        raise NotFound("No event with that id.")
    return event


async def list_events(pool: Pool, access: Access, query: EventQuery) -> EventPage:
    """A page of one patient's events, newest first, with the position of the next page.

    A patient with no event in the principal's tenant is :class:`NotFound`, whether it exists
    in another tenant or nowhere: the answer must not tell the two apart. Filters that match
    nothing for a known patient give an empty page. A patient outside a patient-limited
    principal's list is :class:`NotFound` too.
    """
    if not access.principal.may_reach(query.patient_id):
        raise NotFound("No events for that patient.")
    async with connection(pool, access.tenant_id) as conn:
        rows, counted = await event_store.list_events(
            conn,
            tenant_id=access.tenant_id,
            query=query,
            fetch=query.limit + 1,
            audit=access.audit,
            visible_labels=access.visible_labels,
        )
        withheld = counted or 0
        visible = access.visible_labels
        if counted is None and visible is not None:
            withheld = await event_store.count_withheld(
                conn, tenant_id=access.tenant_id, query=query, visible_labels=visible
            )
        if not rows and query.after is None and not withheld:
            filtered = bool(query.event_types) or query.since is not None or query.until is not None
            if not filtered or not await event_store.patient_has_events(
                conn, tenant_id=access.tenant_id, patient_id=query.patient_id
            ):
                raise NotFound("No events for that patient.")  # (audited as a failed 404)
        if not rows:  # an empty answer, audited as one
            await record_success(
                conn, access, AuditAction.SEARCH, patient_id=query.patient_id, event_ids=[]
            )
    if len(rows) <= query.limit:
        return EventPage(rows, next_after=None, withheld=withheld)
    page = rows[: query.limit]
    last = page[-1]
    return EventPage(page, next_after=(last.occurred_at, last.id), withheld=withheld)


async def revise_event(
    pool: Pool,
    access: Access,
    event_id: int,
    *,
    reason: str,
    payload: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> EventDocument:
    """Correct (with a ``payload``) or retract (without) one event: a new event supersedes
    it and the original row never changes. Revising an event that already has a successor
    raises :class:`EventSuperseded` naming the current version."""
    async with connection(pool, access.tenant_id) as conn:
        target = await event_store.get_revision_target(
            conn,
            tenant_id=access.tenant_id,
            event_id=event_id,
            patients=access.principal.patients,
            visible_labels=access.visible_labels,
        )
        if target is None:
            raise NotFound("No event with that id.")
        if target.status == RETRACTED:
            raise Conflict("That event is a retraction; it cannot be revised.")
        if payload is not None:
            await check_event(conn, access.tenant_id, target.event_type, payload)
        revision = await event_store.insert_revision(
            conn,
            principal=access.principal,
            supersedes=event_id,
            status=AMENDED if payload is not None else RETRACTED,
            reason=reason,
            payload=payload,
            occurred_at=occurred_at,
            audit=access.audit,
        )
        if revision is None:
            current = await event_store.current_version(
                conn, tenant_id=access.tenant_id, event_id=event_id
            )
            raise EventSuperseded(event_id, current)
    return revision


CODE_SYSTEMS = frozenset({"loinc", "rxnorm", "icd10", "snomed"})


async def search_events(
    pool: Pool,
    access: Access,
    *,
    query: str | None,
    code: tuple[str, str] | None,
    patient_id: str | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> EventPage:
    """Full-text and/or code search over the principal's tenant's current events."""
    if patient_id is not None and not access.principal.may_reach(patient_id):
        return EventPage([], next_after=None)
    async with connection(pool, access.tenant_id) as conn:
        rows = await event_store.search_events(
            conn,
            tenant_id=access.tenant_id,
            query=query,
            contains=None if code is None else {code[0]: code[1]},
            patient_id=patient_id,
            patients=access.principal.patients,
            visible_labels=access.visible_labels,
            after=after,
            fetch=limit + 1,
            page_size=limit,
            audit=access.audit,
        )
    if len(rows) <= limit:
        return EventPage(rows, next_after=None)
    page = rows[:limit]
    return EventPage(page, next_after=(page[-1].occurred_at, page[-1].id))
