"""Record a patient event for an authenticated principal, within its tenant."""

from __future__ import annotations

from dataclasses import dataclass

from carelog.domain.audit import AuditAction
from carelog.domain.events import EventDocument, PatientEventCreate
from carelog.errors import Forbidden, IdempotencyKeyReused
from carelog.services.audit import record_success
from carelog.services.event_types import check_event
from carelog.services.unit import Work
from carelog.storage import patient_events as event_store


@dataclass(frozen=True, slots=True)
class Recorded:
    """The stored event, and whether it was a replay of an earlier idempotent request."""

    event: EventDocument
    replayed: bool


async def record_event(
    work: Work,
    event: PatientEventCreate,
    *,
    idempotency_key: str | None = None,
) -> Recorded:
    """Append ``event`` to the principal's tenant's log, audited in the same statement.

    With an idempotency key, a retry of the same request returns the first event and writes
    nothing but its audit row; the same key with a different request raises
    :class:`IdempotencyKeyReused`. The database's primary key on the key decides, so
    concurrent retries are safe too.

    Each path writes one statement (the event and its audit row; or a replay's audit row),
    so it needs no transaction of its own: alone it commits as it runs, and inside a
    transaction of ``work`` it is part of it.
    """
    access = work.access
    if not access.principal.may_reach(event.patient_id):
        raise Forbidden("This key may not record events for that patient.")
    conn = await work.connection()
    await check_event(conn, access.tenant_id, event.event_type, event.payload)
    if idempotency_key is None:
        stored = await event_store.insert_event(
            conn, principal=access.principal, event=event, audit=access.audit
        )
        return Recorded(work.audited(stored), replayed=False)
    request_hash = event.request_hash()
    inserted = work.audited(
        await event_store.insert_event_idempotent(
            conn,
            principal=access.principal,
            event=event,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            audit=access.audit,
        )
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
        work, AuditAction.CREATE, patient_id=event.patient_id, event_ids=[first.event.id]
    )
    return Recorded(first.event, replayed=True)
