"""Storage of patient events. Functions take a connection first and never commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, AsyncRawCursor
from psycopg.types.json import Jsonb
from pydantic import TypeAdapter

from carelog.domain.audit import AuditContext
from carelog.domain.events import EventDocument, EventQuery, PatientEvent, PatientEventCreate
from carelog.domain.principals import Principal
from carelog.storage.queries import load, load_positional


@dataclass(frozen=True, slots=True)
class IdempotentReplay:
    """The event first stored under an idempotency key, and the hash of that first request."""

    request_hash: bytes
    event: EventDocument


def _insert_params(*, principal: Principal, event: PatientEventCreate) -> dict[str, Any]:
    # The principal decides the tenant and who is recorded: never the client's body.
    return {
        "tenant_id": principal.tenant_id,
        "patient_id": event.patient_id,
        "event_type": event.event_type,
        "payload": Jsonb(event.payload),
        "occurred_at": event.occurred_at,
        "recorded_by": principal.name,
        "recorded_by_kind": principal.kind.value,
        "agent_name": principal.agent_name,
        "source": event.source,
        "labels": sorted(label.value for label in event.labels),
    }


def _documents(cursor: Any) -> Callable[[Sequence[Any]], EventDocument]:
    # Positional (id, occurred_at, doc), as every event query returns them: cheaper than
    # class_row's dict per row on the hot read path.
    return lambda values: EventDocument(*values)


async def insert_event(
    conn: AsyncConnection[Any],
    *,
    principal: Principal,
    event: PatientEventCreate,
    audit: AuditContext,
) -> EventDocument:
    """Append ``event`` to the principal's tenant's log, with its audit row; return it."""
    params = _insert_params(principal=principal, event=event) | audit.params()
    async with conn.cursor(row_factory=_documents) as cur:
        await cur.execute(load("insert_event"), params)
        row = await cur.fetchone()
    audit.written = True
    assert row is not None
    return row


async def insert_event_idempotent(
    conn: AsyncConnection[Any],
    *,
    principal: Principal,
    event: PatientEventCreate,
    idempotency_key: str,
    request_hash: bytes,
    audit: AuditContext,
) -> EventDocument | None:
    """Append ``event`` (and its audit row) under ``idempotency_key``; ``None``, and nothing
    written, when the key was already used."""
    params = _insert_params(principal=principal, event=event) | audit.params()
    params["idempotency_key"] = idempotency_key
    params["request_hash"] = request_hash
    async with conn.cursor(row_factory=_documents) as cur:
        await cur.execute(load("insert_event_idempotent"), params)
        row = await cur.fetchone()
    audit.written = row is not None
    return row


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


async def get_event(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    event_id: int,
    audit: AuditContext,
    patients: frozenset[str] | None = None,
    visible_labels: frozenset[str] | None = None,
) -> EventDocument | None:
    """One event of the tenant by id (of one of ``patients``, if given), or ``None``; the
    read is audited if it found the event (``None`` is the caller's 404 to audit)."""
    params = {
        "tenant_id": tenant_id,
        "id": event_id,
        "patients": None if patients is None else sorted(patients),
        "visible_labels": _labels(visible_labels),
        **audit.params(),
    }
    async with conn.cursor(row_factory=_documents) as cur:
        await cur.execute(load("get_event"), params)
        found = await cur.fetchone()
        audit.written = found is not None  # (audited only when found: see the query)
        return found


async def list_events(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    query: EventQuery,
    fetch: int,
    audit: AuditContext,
    visible_labels: frozenset[str] | None = None,
) -> tuple[list[EventDocument], int | None]:
    """Up to ``fetch`` events of one patient matching ``query``, newest first, and how many
    matching events were withheld for their labels (``None`` when the page is empty: ask
    :func:`count_withheld`). The search is audited with the ids of the first
    ``query.limit`` (the page the client gets)."""
    after_at: datetime | None = None
    after_id: int | None = None
    if query.after is not None:
        after_at, after_id = query.after
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "patient_id": query.patient_id,
        "since": query.since,
        "until": query.until,
        "after_at": after_at,
        "after_id": after_id,
        "limit": fetch,
        "page_size": query.limit,
        "visible_labels": _labels(visible_labels),
        "history": query.history,
        "as_of": query.as_of,
        **audit.params(),
    }
    params["event_types"] = list(query.event_types) or None
    name = "list_events_by_type" if query.event_types else "list_events"
    cur = await conn.execute(load(name), params)
    rows = await cur.fetchall()
    audit.written = bool(rows)  # (an empty page is not audited here: see the query)
    if not rows:
        return [], None
    return [EventDocument(event_id, at, doc) for event_id, at, doc, _ in rows], int(rows[0][3])


async def patient_has_events(
    conn: AsyncConnection[Any], *, tenant_id: str, patient_id: str
) -> bool:
    """Whether the tenant holds any event of this patient."""
    cur = await conn.execute(
        load("patient_has_events"), {"tenant_id": tenant_id, "patient_id": patient_id}
    )
    row = await cur.fetchone()
    return bool(row and row[0])


def _labels(visible: frozenset[str] | None) -> list[str] | None:
    # None: every label is visible (no filter); a list, possibly empty: only those.
    return None if visible is None else sorted(visible)


async def patient_record(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    patient_id: str,
    as_of: datetime | None,
    max_versions: int,
    audit: AuditContext,
    visible_labels: frozenset[str] | None = None,
) -> list[EventDocument]:
    """Every version of the patient's events recorded by ``as_of`` and visible, oldest first,
    up to ``max_versions + 1`` (one more: too many). The read is audited by the statement
    when there are between 1 and ``max_versions``."""
    cur = await conn.execute(
        load("patient_record"),
        {
            "tenant_id": tenant_id,
            "patient_id": patient_id,
            "as_of": as_of,
            "max_versions": max_versions,
            "visible_labels": _labels(visible_labels),
            **audit.params(),
        },
    )
    rows = await cur.fetchall()
    audit.written = 0 < len(rows) <= max_versions
    return [EventDocument(id=r[0], occurred_at=r[1], json=r[2]) for r in rows]


async def count_withheld(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    query: EventQuery,
    visible_labels: frozenset[str],
) -> int:
    """How many of the patient's events matching ``query`` carry a label not visible."""
    cur = await conn.execute(
        load("count_withheld_events"),
        {
            "tenant_id": tenant_id,
            "patient_id": query.patient_id,
            "visible_labels": sorted(visible_labels),
            "event_types": list(query.event_types) or None,
            "since": query.since,
            "until": query.until,
            "as_of": query.as_of,
        },
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


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
            "visible_labels": _labels(visible_labels),
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
) -> EventDocument | None:
    """Append a correction or retraction of ``supersedes``; ``None`` if it already has one."""
    params = {
        "tenant_id": principal.tenant_id,
        "supersedes": supersedes,
        "status": status,
        "reason": reason,
        "payload": None if payload is None else Jsonb(payload),
        "occurred_at": occurred_at,
        "recorded_by": principal.name,
        "recorded_by_kind": principal.kind.value,
        "agent_name": principal.agent_name,
        "source": None,
        **audit.params(),
    }
    async with conn.cursor(row_factory=_documents) as cur:
        await cur.execute(load("insert_revision"), params)
        row = await cur.fetchone()
    audit.written = row is not None
    return row


async def current_version(conn: AsyncConnection[Any], *, tenant_id: str, event_id: int) -> int:
    """The newest version in the chain of successors of ``event_id``."""
    cur = await conn.execute(load("current_version"), {"tenant_id": tenant_id, "id": event_id})
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True, slots=True)
class ContextCandidates:
    """What a context is built from, read in one snapshot: the patient's version (``None``:
    no events at all), the newest time any of its events was recorded, how many events in
    the window the labels withheld, and the events."""

    version: int | None
    changed_at: datetime | None
    withheld: int
    events: list[PatientEvent]


_EVENT_LIST = TypeAdapter(list[PatientEvent])


async def context_candidates(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    patient_id: str,
    as_of: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    types: frozenset[str] | None = None,
    visible_labels: frozenset[str] | None = None,
) -> ContextCandidates:
    """The current events (as recorded by ``as_of``) a patient's context can use, among those
    that occurred in ``[since, until)``, of ``types``, that carry only ``visible_labels``."""
    params = {
        "tenant_id": tenant_id,
        "patient_id": patient_id,
        "as_of": as_of,
        "since": since,
        "until": until,
        "types": None if types is None else sorted(types),
        "visible_labels": _labels(visible_labels),
    }
    query, names = load_positional("context_candidates")
    async with conn.pipeline():
        async with conn.transaction():
            # The plan's settings, for this transaction only (see the file).
            await conn.execute(load("context_plan_settings"))
            cur = AsyncRawCursor(conn)
            await cur.execute(query, [params[name] for name in names])
        row = await cur.fetchone()
    assert row is not None  # one row always
    version, changed_at, withheld, events = row
    return ContextCandidates(
        version=version,
        changed_at=changed_at,
        withheld=withheld,
        events=_EVENT_LIST.validate_json(events) if events else [],
    )


async def search_events(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    query: str | None,
    contains: dict[str, str] | None,
    patient_id: str | None,
    patients: frozenset[str] | None,
    visible_labels: frozenset[str] | None,
    after: tuple[datetime, int] | None,
    fetch: int,
    page_size: int,
    audit: AuditContext,
) -> list[EventDocument]:
    """Current events matching a text query and/or a contained code, newest first."""
    after_at, after_id = after or (None, None)
    params = {
        "tenant_id": tenant_id,
        "query": query,
        "contains": None if contains is None else Jsonb(contains),
        "patient_id": patient_id,
        "patients": None if patients is None else sorted(patients),
        "visible_labels": _labels(visible_labels),
        "after_at": after_at,
        "after_id": after_id,
        "limit": fetch,
        "page_size": page_size,
        **audit.params(),
    }
    async with conn.cursor(row_factory=_documents) as cur:
        await cur.execute(load("search_events"), params)
        audit.written = True
        return await cur.fetchall()
