"""Record a patient event for an authenticated principal, within its tenant."""

from __future__ import annotations

from dataclasses import dataclass

from carelog.domain.audit import AuditAction
from carelog.domain.clinical import check_payload
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
    return await _append(work, event, idempotency_key, event.request_hash())


async def record_system_event(
    work: Work, event: PatientEventCreate, *, idempotency_key: str | None, request_hash: bytes
) -> Recorded:
    """Append an event only the service writes (a workflow transition): its payload is
    checked by its built-in model, never by the client's event-type rules (which refuse it).
    ``request_hash`` is the digest of the client's request the event answers, so that a retry
    of that request under ``idempotency_key`` replays it."""
    if not work.access.principal.may_reach(event.patient_id):
        raise Forbidden("This key may not record events for that patient.")
    check_payload(event.event_type, event.payload)
    return await _append(work, event, idempotency_key, request_hash)


async def find_replay(
    work: Work, *, idempotency_key: str, request_hash: bytes
) -> EventDocument | None:
    """The event first written under ``idempotency_key``, if the key was used for this same
    request (``request_hash``); :class:`IdempotencyKeyReused` if for another; None if unused."""
    first = await event_store.get_idempotent_event(
        await work.connection(), tenant_id=work.access.tenant_id, idempotency_key=idempotency_key
    )
    if first is None:
        return None
    if first.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body."
        )
    return first.event


async def _append(
    work: Work, event: PatientEventCreate, idempotency_key: str | None, request_hash: bytes
) -> Recorded:
    access, conn = work.access, await work.connection()
    if idempotency_key is None:
        stored = await event_store.insert_event(
            conn, principal=access.principal, event=event, audit=access.audit
        )
        return Recorded(work.audited(stored), replayed=False)
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
