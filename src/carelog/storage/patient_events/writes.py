"""Appending patient events: a new event, an idempotent one, a correction or retraction.
Functions take a connection first and never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from carelog.domain.audit import AuditContext
from carelog.domain.events import EventDocument, PatientEventCreate
from carelog.domain.principals import Principal
from carelog.storage.audit import Audited
from carelog.storage.patient_events._shared import documents, labels, load, writer


@dataclass(frozen=True, slots=True)
class IdempotentReplay:
    """The event first stored under an idempotency key, and the hash of that first request."""

    request_hash: bytes
    event: EventDocument


def _insert_params(*, principal: Principal, event: PatientEventCreate) -> dict[str, Any]:
    return {
        **writer(principal),
        "patient_id": event.patient_id,
        "event_type": event.event_type,
        "payload": Jsonb(event.payload),
        "occurred_at": event.occurred_at,
        "source": event.source,
        "labels": sorted(label.value for label in event.labels),
    }


async def insert_event(
    conn: AsyncConnection[Any],
    *,
    principal: Principal,
    event: PatientEventCreate,
    audit: AuditContext,
) -> Audited[EventDocument]:
    """Append ``event`` to the principal's tenant's log, with its audit row; return it."""
    params = _insert_params(principal=principal, event=event) | audit.params()
    async with conn.cursor(row_factory=documents) as cur:
        await cur.execute(load("insert_event"), params)
        row = await cur.fetchone()
    assert row is not None
    return Audited(row, audited=True)


async def insert_event_idempotent(
    conn: AsyncConnection[Any],
    *,
    principal: Principal,
    event: PatientEventCreate,
    idempotency_key: str,
    request_hash: bytes,
    audit: AuditContext,
) -> Audited[EventDocument | None]:
    """Append ``event`` (and its audit row) under ``idempotency_key``; ``None``, and nothing
    written, when the key was already used."""
    params = _insert_params(principal=principal, event=event) | audit.params()
    params["idempotency_key"] = idempotency_key
    params["request_hash"] = request_hash
    async with conn.cursor(row_factory=documents) as cur:
        await cur.execute(load("insert_event_idempotent"), params)
        row = await cur.fetchone()
    return Audited(row, audited=row is not None)


async def get_idempotent_event(
    conn: AsyncConnection[Any], *, tenant_id: str, idempotency_key: str
) -> IdempotentReplay | None:
    """The event first written under the tenant's ``idempotency_key``, if any."""
    cur = await conn.execute(
        load("get_idempotent_event"),
        {"tenant_id": tenant_id, "idempotency_key": idempotency_key},
    )
    row = await cur.fetchone()
    if row is None:
        return None
    request_hash, event_id, occurred_at, doc = row
    return IdempotentReplay(bytes(request_hash), EventDocument(event_id, occurred_at, doc))


@dataclass(frozen=True, slots=True)
class RevisionTarget:
    """What a correction or retraction needs to know of the event it names."""

    id: int
    patient_id: str
    event_type: str
    status: str
    labels: list[str]


async def get_revision_target(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    event_id: int,
    patients: frozenset[str] | None,
    visible_labels: frozenset[str] | None,
) -> RevisionTarget | None:
    """The event a revision names, if the principal may see it."""
    cur = await conn.execute(
        load("get_revision_target"),
        {
            "tenant_id": tenant_id,
            "id": event_id,
            "patients": None if patients is None else sorted(patients),
            "visible_labels": labels(visible_labels),
        },
    )
    row = await cur.fetchone()
    return None if row is None else RevisionTarget(*row)


async def insert_revision(
    conn: AsyncConnection[Any],
    *,
    principal: Principal,
    supersedes: int,
    status: str,
    reason: str,
    payload: dict[str, Any] | None,
    occurred_at: datetime | None,
    audit: AuditContext,
) -> Audited[EventDocument | None]:
    """Append a correction or retraction of ``supersedes`` (audited); ``None``, and nothing
    written, if it already has one."""
    params = {
        **writer(principal),
        "supersedes": supersedes,
        "status": status,
        "reason": reason,
        "payload": None if payload is None else Jsonb(payload),
        "occurred_at": occurred_at,
        "source": None,
        **audit.params(),
    }
    async with conn.cursor(row_factory=documents) as cur:
        await cur.execute(load("insert_revision"), params)
        row = await cur.fetchone()
    return Audited(row, audited=row is not None)


async def current_version(conn: AsyncConnection[Any], *, tenant_id: str, event_id: int) -> int:
    """The newest version in the chain of successors of ``event_id``."""
    cur = await conn.execute(load("current_version"), {"tenant_id": tenant_id, "id": event_id})
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])
