"""The events a patient's context is built from, in one statement, and the plan settings it
is to run under."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
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

# The candidate query's plan, for the transaction (or scope of one) that runs it: the unit
# of work sets these (services/unit.py, ``settings=``), in the same round trip as the query.
# - always the generic plan: left to choose, PostgreSQL can settle on re-planning per call
#   (custom plans cost it ~1.5 ms, the generic plan runs in ~1 ms);
# - walks, not sorts: every part of the query is "the newest N of an index range that pass a
#   filter", which an ordered index scan answers after N rows. A generic plan knows neither
#   the window nor the labels, guesses that few rows pass, and then (on some statistics)
#   prefers reading the whole range with a bitmap scan and sorting it: every note, every
#   reading of a sign. Sorts and bitmap scans are made the last resort;
# - no parallel workers: every part reads a few index rows, and starting workers (which the
#   withheld count then chose, with bitmap scans off) cost more than the whole query.
CONTEXT_PLAN: Mapping[str, str] = MappingProxyType(
    {
        "plan_cache_mode": "force_generic_plan",
        "enable_sort": "off",
        "enable_bitmapscan": "off",
        "max_parallel_workers_per_gather": "0",
    }
)


class SentCandidates:
    """The candidate query, sent: :meth:`read` waits for its one row. In a pipelined scope
    (``Work.transaction(pipelined=True)``) the row can be read once the scope has ended,
    so BEGIN, the settings, the query and COMMIT travel in one round trip."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: AsyncRawCursor[Any]) -> None:
        self._cursor = cursor

    async def read(self) -> ContextCandidates:
        """The candidates."""
        row = await self._cursor.fetchone()
        assert row is not None  # one row always
        version, changed_at, withheld, events = row
        return ContextCandidates(
            version=version,
            changed_at=changed_at,
            withheld=withheld,
            events=_EVENT_LIST.validate_json(events) if events else [],
        )


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
) -> SentCandidates:
    """Send the query for the current events (as recorded by ``as_of``) a patient's context
    can use, among those that occurred in ``[since, until)``, of ``types``, that carry only
    ``visible_labels``; run it under :data:`CONTEXT_PLAN`."""
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
    cur = AsyncRawCursor(conn)
    await cur.execute(query, [params[name] for name in names])
    return SentCandidates(cur)
