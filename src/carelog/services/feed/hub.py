"""The process's one fan-out of the log's notifications to its live streams.

One LISTEN connection per process (``storage.notify.listen_forever`` on the events channel,
started by ``services/runtime``) calls :meth:`FeedHub.wake` with the tenant each committed
write names; the hub sets the wake-up of every stream of that tenant, which then reads the
log itself (the log, not the notification, is what a stream delivers: a notification only
says "look now", so one that is lost or folded costs latency, never an event). A change of
keys wakes every stream, to look at its own key again. The hub also counts each principal's
open streams, against the configured bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from carelog.domain.feed import FeedPosition
from carelog.errors import TooManyRequests
from carelog.services.feed.tail import TenantTail


class FeedHub:
    """Streams by tenant, woken by notifications; streams open per principal, bounded."""

    def __init__(self, *, max_streams_per_principal: int, tail_capacity: int = 10_000) -> None:
        self.max_streams_per_principal = max_streams_per_principal
        self.tail_capacity = tail_capacity
        self.live = False
        self.keys_generation = 0
        self._streams: dict[str, set[asyncio.Event]] = {}
        self._open: dict[tuple[str, str], int] = {}
        self._tails: dict[str, TenantTail] = {}

    def wake(self, tenant_id: str) -> None:
        """A write of ``tenant_id`` committed: its streams look at the log now."""
        tail = self._tails.get(tenant_id)
        if tail is not None:
            tail.dirty = True
        for woken in self._streams.get(tenant_id, ()):
            woken.set()

    def wake_all(self) -> None:
        """Every stream looks at the log now."""
        for tail in self._tails.values():
            tail.dirty = True
        for streams in self._streams.values():
            for woken in streams:
                woken.set()

    def tail_of(self, tenant_id: str) -> TenantTail | None:
        """The tenant's shared tail, if it has one."""
        return self._tails.get(tenant_id)

    def tail(self, tenant_id: str, start: FeedPosition, batch_size: int) -> TenantTail:
        """The tenant's shared tail; made, starting at ``start`` (a position after which a
        stream has found every final event), if the tenant has none yet."""
        tail = self._tails.get(tenant_id)
        if tail is None:
            tail = TenantTail(start, capacity=self.tail_capacity, batch_size=batch_size)
            self._tails[tenant_id] = tail
        return tail

    def keys_changed(self) -> None:
        """A key was revoked or changed somewhere: every stream checks its own key."""
        self.keys_generation += 1
        self.wake_all()

    def set_live(self, live: bool) -> None:
        """The listening connection is up (or lost). Either way every stream reads the log:
        what was notified while it was down was not heard."""
        self.live = live
        self.wake_all()

    def open_streams(self, tenant_id: str, principal: str) -> int:
        """How many streams ``principal`` of ``tenant_id`` has open in this process."""
        return self._open.get((tenant_id, principal), 0)

    @contextmanager
    def subscribe(self, tenant_id: str, principal: str) -> Iterator[asyncio.Event]:
        """A stream's wake-up for the block; :class:`TooManyRequests` when the principal
        already has its bound of streams open."""
        key = (tenant_id, principal)
        if self._open.get(key, 0) >= self.max_streams_per_principal:
            raise TooManyRequests(
                f"This principal already has {self.max_streams_per_principal} streams open; "
                "close one, or retry later.",
                retry_after=5,
            )
        self._open[key] = self._open.get(key, 0) + 1
        woken = asyncio.Event()
        self._streams.setdefault(tenant_id, set()).add(woken)
        try:
            yield woken
        finally:
            streams = self._streams[tenant_id]
            streams.discard(woken)
            if not streams:
                del self._streams[tenant_id]
                self._tails.pop(tenant_id, None)
            self._open[key] -= 1
            if not self._open[key]:
                del self._open[key]
