"""Reading the log as a feed: events after a position, in position order, below the horizon
of transactions still running (migration 0022; the positions are kept in event_feed since
0026). Connection first; never commits."""

from __future__ import annotations

from dataclasses import dataclass

from carelog.domain.feed import FeedFilter, FeedPosition
from carelog.storage.db import Connection
from carelog.storage.queries import Queries

load = Queries(__name__)

# The channel every event-writing statement notifies at commit, with its tenant as payload.
EVENTS_CHANNEL = "carelog_events"


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One event as the feed hands it out: its position and its JSON document."""

    position: FeedPosition
    patient_id: str
    event_type: str
    labels: tuple[str, ...]
    json: str


@dataclass(frozen=True, slots=True)
class FeedRead:
    """What one read of the feed found: the events (in order), the horizon it read below
    (every event before ``FeedPosition(horizon, 0)`` is final), and whether committed events
    wait above the horizon for an older writer to end."""

    events: list[FeedEvent]
    horizon: int
    waiting: bool


async def horizon(conn: Connection) -> int:
    """The oldest transaction still running (every one below it has ended)."""
    cur = await conn.execute(load("feed_horizon"))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def events_after(
    conn: Connection,
    *,
    tenant_id: str,
    after: FeedPosition,
    feed: FeedFilter,
    reach: frozenset[str] | None,
    visible_labels: frozenset[str] | None,
    limit: int,
) -> FeedRead:
    """Up to ``limit`` of the tenant's final events after ``after`` that match ``feed``, of
    the patients in ``reach`` (None: any) and visible with ``visible_labels`` (None: all)."""
    patients = feed.patients
    if reach is not None:
        patients = reach if patients is None else patients & reach
    cur = await conn.execute(
        load("feed_after"),
        {
            "tenant_id": tenant_id,
            "after_tx": str(after.tx),
            "after_id": after.event_id,
            "patients": None if patients is None else sorted(patients),
            "event_types": None if feed.event_types is None else sorted(feed.event_types),
            "visible_labels": None if visible_labels is None else sorted(visible_labels),
            "limit": limit,
        },
    )
    rows = await cur.fetchall()
    events = [
        FeedEvent(FeedPosition(int(tx), event_id), patient, kind, tuple(labels), doc)
        for _, _, tx, event_id, patient, kind, labels, doc in rows
        if tx is not None
    ]
    return FeedRead(events, horizon=int(rows[0][0]), waiting=bool(rows[0][1]))
