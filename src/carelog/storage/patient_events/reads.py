"""Reading patient events: by id, a patient's pages, search, the whole record.
Functions take a connection first and never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from carelog.domain.audit import AuditContext
from carelog.domain.events import EventDocument, EventQuery
from carelog.domain.fhir.history import Link
from carelog.storage.audit import Audited
from carelog.storage.patient_events._shared import documents, labels, load


async def get_event(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    event_id: int,
    audit: AuditContext,
    patients: frozenset[str] | None = None,
    visible_labels: frozenset[str] | None = None,
) -> Audited[EventDocument | None]:
    """One event of the tenant by id (of one of ``patients``, if given), or ``None``; the
    read is audited if it found the event (``None`` is the caller's 404 to audit)."""
    params = {
        "tenant_id": tenant_id,
        "id": event_id,
        "patients": None if patients is None else sorted(patients),
        "visible_labels": labels(visible_labels),
        **audit.params(),
    }
    async with conn.cursor(row_factory=documents) as cur:
        await cur.execute(load("get_event"), params)
        found = await cur.fetchone()
    return Audited(found, audited=found is not None)  # (only when found: see the query)


async def list_events(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    query: EventQuery,
    fetch: int,
    audit: AuditContext,
    visible_labels: frozenset[str] | None = None,
) -> Audited[tuple[list[EventDocument], int | None]]:
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
        "visible_labels": labels(visible_labels),
        "history": query.history,
        "as_of": query.as_of,
        **audit.params(),
    }
    params["event_types"] = list(query.event_types) or None
    name = "list_events_by_type" if query.event_types else "list_events"
    cur = await conn.execute(load(name), params)
    rows = await cur.fetchall()
    if not rows:  # (an empty page is not audited here: see the query)
        return Audited(([], None), audited=False)
    events = [EventDocument(event_id, at, doc) for event_id, at, doc, _ in rows]
    return Audited((events, int(rows[0][3])), audited=True)


async def patient_has_events(
    conn: AsyncConnection[Any], *, tenant_id: str, patient_id: str
) -> bool:
    """Whether the tenant holds any event of this patient."""
    cur = await conn.execute(
        load("patient_has_events"), {"tenant_id": tenant_id, "patient_id": patient_id}
    )
    row = await cur.fetchone()
    return bool(row and row[0])


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


async def patient_record(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    patient_id: str,
    as_of: datetime | None,
    max_versions: int,
    audit: AuditContext,
    visible_labels: frozenset[str] | None = None,
) -> Audited[list[EventDocument]]:
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
            "visible_labels": labels(visible_labels),
            **audit.params(),
        },
    )
    rows = await cur.fetchall()
    documents = [EventDocument(id=r[0], occurred_at=r[1], json=r[2]) for r in rows]
    return Audited(documents, audited=0 < len(rows) <= max_versions)


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
) -> Audited[list[EventDocument]]:
    """Current events matching a text query and/or a contained code, newest first (the
    search audited, whatever it found)."""
    after_at, after_id = after or (None, None)
    params = {
        "tenant_id": tenant_id,
        "query": query,
        "contains": None if contains is None else Jsonb(contains),
        "patient_id": patient_id,
        "patients": None if patients is None else sorted(patients),
        "visible_labels": labels(visible_labels),
        "after_at": after_at,
        "after_id": after_id,
        "limit": fetch,
        "page_size": page_size,
        **audit.params(),
    }
    async with conn.cursor(row_factory=documents) as cur:
        await cur.execute(load("search_events"), params)
        return Audited(await cur.fetchall(), audited=True)


async def export_patients(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    after: str,
    limit: int,
    patients: frozenset[str] | None,
) -> list[tuple[str, int]]:
    """Up to ``limit`` of the tenant's patients with an id after ``after``, in order (only
    ``patients``, if given), each with the number of events recorded for it."""
    cur = await conn.execute(
        load("export_patients"),
        {
            "tenant_id": tenant_id,
            "after": after,
            "limit": limit,
            "patients": None if patients is None else sorted(patients),
        },
    )
    return [(str(patient), int(events)) for patient, events in await cur.fetchall()]


async def export_versions(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    patients: list[str],
    as_of: datetime,
    visible_labels: frozenset[str] | None,
) -> list[EventDocument]:
    """Every version of ``patients``' events recorded by ``as_of`` and visible, oldest
    first (not audited: the export's kick-off and downloads are)."""
    async with conn.cursor(row_factory=documents) as cur:
        await cur.execute(
            load("export_versions"),
            {
                "tenant_id": tenant_id,
                "patients": patients,
                "as_of": as_of,
                "visible_labels": labels(visible_labels),
            },
        )
        return await cur.fetchall()


async def export_patient_links(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    patient_id: str,
    as_of: datetime,
    visible_labels: frozenset[str] | None,
    before: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[datetime, Link]]:
    """Up to ``limit`` chain links of one patient's events recorded by ``as_of`` and
    visible, newest clinical time first, after ``before`` (the clinical time and id of the
    last of the page before), each with its clinical time (not audited, as
    :func:`export_versions`)."""
    cur = await conn.execute(
        load("export_patient_links"),
        {
            "tenant_id": tenant_id,
            "patient_id": patient_id,
            "as_of": as_of,
            "visible_labels": labels(visible_labels),
            "before_at": None if before is None else before[0],
            "before_id": None if before is None else before[1],
            "limit": limit,
        },
    )
    return [
        (occurred_at, Link(int(event_id), supersedes, str(status), recorded_at))
        for event_id, occurred_at, supersedes, status, recorded_at in await cur.fetchall()
    ]


async def export_events(
    conn: AsyncConnection[Any], *, tenant_id: str, event_ids: list[int]
) -> list[EventDocument]:
    """These events of the tenant, by id (not audited, as :func:`export_versions`)."""
    async with conn.cursor(row_factory=documents) as cur:
        await cur.execute(load("export_events"), {"tenant_id": tenant_id, "ids": event_ids})
        return await cur.fetchall()
