"""The live feed's position in the log: what an SSE ``id`` carries and ``Last-Event-ID``
gives back.

A position is (transaction id, event id): the writing transaction's 64-bit id, then the
event's own. The feed hands out events in that order and only below the oldest transaction
still running (see migration 0022), so once a position is handed out nothing can ever
appear behind it: "every event after this position" is a complete answer at any time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_POSITION = re.compile(r"^(\d{1,20})-(\d{1,19})$")
_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True, order=True)
class FeedPosition:
    """A place in the log, between two events (ordered as the feed reads them)."""

    tx: int
    event_id: int

    def encode(self) -> str:
        """The SSE ``id`` of the event at this position: ``<tx>-<event id>``."""
        return f"{self.tx}-{self.event_id}"

    @classmethod
    def decode(cls, text: str) -> FeedPosition | None:
        """The position an SSE ``id`` names, or None if it is not one."""
        found = _POSITION.match(text)
        if found is None:
            return None
        tx, event_id = int(found[1]), int(found[2])
        if tx > 2**64 - 1 or event_id > _MAX:
            return None
        return cls(tx, event_id)


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """Which events a stream carries: of these patients (None: every one the principal
    may reach) and of these types (None: every type)."""

    patients: frozenset[str] | None
    event_types: frozenset[str] | None


def may_see(
    *,
    patient_id: str,
    event_type: str,
    labels: tuple[str, ...],
    feed: FeedFilter,
    reach: frozenset[str] | None,
    visible_labels: frozenset[str] | None,
) -> bool:
    """Whether a stream with ``feed``, of a principal that reaches ``reach`` (None: every
    patient) and sees ``visible_labels`` (None: all), carries this event: the feed's
    statement's own predicate (carelog_feed_bucket, migration 0026), for events a process
    already holds; the labels rule is the event list's (unlabelled, or every label seen)."""
    if reach is not None and patient_id not in reach:
        return False
    if feed.patients is not None and patient_id not in feed.patients:
        return False
    if feed.event_types is not None and event_type not in feed.event_types:
        return False
    return visible_labels is None or not labels or visible_labels.issuperset(labels)
