"""Correct or retract a patient event: a new event supersedes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from carelog.domain.clinical import SYSTEM_EVENT_TYPES
from carelog.domain.events import EventDocument
from carelog.errors import Conflict, EventSuperseded, NotFound
from carelog.services.event_types import check_event
from carelog.services.unit import Work
from carelog.storage import patient_events as event_store

AMENDED = "amended"

RETRACTED = "entered-in-error"


async def revise_event(
    work: Work,
    event_id: int,
    *,
    reason: str,
    payload: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> EventDocument:
    """Correct (with a ``payload``) or retract (without) one event: a new event supersedes
    it and the original row never changes. Revising an event that already has a successor
    raises :class:`EventSuperseded` naming the current version. The revision and its
    audit row are one statement (see :func:`record_event` on transactions)."""
    access, conn = work.access, await work.connection()
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
    if target.event_type in SYSTEM_EVENT_TYPES:
        raise Conflict(
            f"Events of type '{target.event_type}' are the service's own record (a workflow "
            "case's timeline); they cannot be corrected or retracted."
        )
    if payload is not None:
        await check_event(conn, access.tenant_id, target.event_type, payload)
    revision = work.audited(
        await event_store.insert_revision(
            conn,
            principal=access.principal,
            supersedes=event_id,
            status=AMENDED if payload is not None else RETRACTED,
            reason=reason,
            payload=payload,
            occurred_at=occurred_at,
            audit=access.audit,
        )
    )
    if revision is None:
        current = await event_store.current_version(
            conn, tenant_id=access.tenant_id, event_id=event_id
        )
        raise EventSuperseded(event_id, current)
    return revision
