"""Read patient events: one by id, a patient's pages, a search of the tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from carelog.domain.audit import AuditAction
from carelog.domain.events import EventDocument, EventQuery
from carelog.errors import NotFound
from carelog.services.audit import record_success
from carelog.services.unit import Work
from carelog.storage import patient_events as event_store


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events, newest first, and where the next page starts (if there is one)."""

    events: list[EventDocument]
    next_after: tuple[datetime, int] | None
    withheld: int = 0


async def get_event(work: Work, event_id: int) -> EventDocument:
    """One event of the principal's tenant; :class:`NotFound` for any other id."""
    access = work.access
    event = work.audited(
        await event_store.get_event(
            await work.connection(),
            tenant_id=access.tenant_id,
            event_id=event_id,
            patients=access.principal.patients,
            audit=access.audit,
            visible_labels=access.visible_labels,
        )
    )
    if event is None:
        raise NotFound("No event with that id.")
    return event


async def list_events(work: Work, query: EventQuery) -> EventPage:
    """A page of one patient's events, newest first, with the position of the next page.

    A patient with no event in the principal's tenant is :class:`NotFound`, whether it exists
    in another tenant or nowhere: the answer must not tell the two apart. Filters that match
    nothing for a known patient give an empty page. A patient outside a patient-limited
    principal's list is :class:`NotFound` too.
    """
    access = work.access
    if not access.principal.may_reach(query.patient_id):
        raise NotFound("No events for that patient.")
    conn = await work.connection()
    rows, counted = work.audited(
        await event_store.list_events(
            conn,
            tenant_id=access.tenant_id,
            query=query,
            fetch=query.limit + 1,
            audit=access.audit,
            visible_labels=access.visible_labels,
        )
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
        await record_success(work, AuditAction.SEARCH, patient_id=query.patient_id, event_ids=[])
    if len(rows) <= query.limit:
        return EventPage(rows, next_after=None, withheld=withheld)
    page = rows[: query.limit]
    last = page[-1]
    return EventPage(page, next_after=(last.occurred_at, last.id), withheld=withheld)


CODE_SYSTEMS = frozenset({"loinc", "rxnorm", "icd10", "snomed"})


async def search_events(
    work: Work,
    *,
    query: str | None,
    code: tuple[str, str] | None,
    patient_id: str | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> EventPage:
    """Full-text and/or code search over the principal's tenant's current events."""
    access = work.access
    if patient_id is not None and not access.principal.may_reach(patient_id):
        return EventPage([], next_after=None)
    rows = work.audited(
        await event_store.search_events(
            await work.connection(),
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
    )
    if len(rows) <= limit:
        return EventPage(rows, next_after=None)
    page = rows[:limit]
    return EventPage(page, next_after=(page[-1].occurred_at, page[-1].id))
