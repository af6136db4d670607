"""A tenant's recent final events, read once for all of the tenant's streams in a process.

Without it every committed write makes every stream of the tenant read the log: with 200
streams, 200 statements (and pooled connections) per write. The tail reads the tenant's log
once per wake-up, in position order and below the horizon like a stream (``storage.feed``),
and keeps what it read: every final event after ``start`` up to ``scanned``, the newest
``capacity`` of them. A stream whose own position is at or after ``start`` takes its events
from here, filtered by its own rules (``domain.feed.may_see``); one behind it (a client
resuming from long ago, or one too slow to keep up) reads the log itself until it catches
up. What a stream is given is the same either way: the final events after its position.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from carelog.domain.feed import FeedPosition
from carelog.storage.feed import FeedEvent, FeedRead


class TenantTail:
    """Every final event of one tenant after ``start`` up to ``scanned``, in order."""

    def __init__(self, start: FeedPosition, *, capacity: int, batch_size: int) -> None:
        self.start = start
        self.scanned = start
        self.capacity = capacity
        self.batch_size = batch_size
        self.events: list[FeedEvent] = []
        self.waiting = False
        self.dirty = True  # a write was notified since the last read began
        self.read_at = float("-inf")  # when the last read began
        self._lock = asyncio.Lock()

    def covers(self, position: FeedPosition) -> bool:
        """Whether every final event after ``position`` that exists is here or later."""
        return position >= self.start

    def after(self, position: FeedPosition) -> list[FeedEvent]:
        """The events held after ``position`` (which :meth:`covers`), in order."""
        events = self.events
        first = len(events)
        while first > 0 and events[first - 1].position > position:
            first -= 1
        return events[first:]

    async def refresh(
        self, read: Callable[[FeedPosition], Awaitable[FeedRead]], *, max_age: float
    ) -> None:
        """Read the log after ``scanned`` if a write was notified since the last read, or
        that read began over ``max_age`` seconds ago; one read at a time, which the streams
        waiting for it share."""
        async with self._lock:
            if not self.dirty and time.monotonic() - self.read_at < max_age:
                return
            self.dirty = False
            self.read_at = time.monotonic()
            try:
                while True:
                    found = await read(self.scanned)
                    self.events.extend(found.events)
                    if found.events:
                        self.scanned = found.events[-1].position
                    if len(found.events) < self.batch_size:
                        break
            except BaseException:
                self.dirty = True
                raise
            self.scanned = max(self.scanned, FeedPosition(found.horizon, 0))
            self.waiting = found.waiting
            over = len(self.events) - self.capacity
            if over > 0:
                self.start = self.events[over - 1].position
                del self.events[:over]
