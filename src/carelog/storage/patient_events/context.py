"""The events a patient's context is built from, in one statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, AsyncRawCursor
from pydantic import TypeAdapter

from carelog.domain.events import PatientEvent
from carelog.storage.patient_events._shared import labels, load


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
        "visible_labels": labels(visible_labels),
    }
    query, names = load.positional("context_candidates")
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
