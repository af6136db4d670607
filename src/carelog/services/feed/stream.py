"""A live stream of a tenant's events (GET /patient-events/stream): the catch-up from a
position, then live events, with heartbeats, until the client leaves or its key is revoked.

Nothing lost, nothing doubled: the stream only ever reads the log, from the position of the
last event it handed out, in position order and below the horizon of transactions still
running (``storage.feed``). A notification (``FeedHub``) only wakes it early; without one it
reads again every ``catch_up_seconds``, and sooner while committed events wait for an older
writer to end. A client that comes back with the last position it got resumes exactly after
it, in this process or another, before or after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from carelog.domain.audit import AuditAction
from carelog.domain.feed import FeedFilter, FeedPosition, may_see
from carelog.domain.principals import Credential
from carelog.errors import NotFound, TooManyRequests, Unauthenticated
from carelog.services.audit import record_success
from carelog.services.auth import keys as key_service
from carelog.services.auth.principal_cache import PrincipalCache
from carelog.services.feed.hub import FeedHub
from carelog.services.unit import Work
from carelog.storage import feed as feed_store
from carelog.storage.db import Pool, connection
from carelog.storage.feed import FeedEvent

# While committed events wait above the horizon, look again after this, doubling up to the
# catch-up interval (the older writer that holds them back may end without a notification).
_FIRST_RETRY = 0.01


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Nothing new for a while: the connection is alive."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """Events for the client, in order (one look's worth: sent together)."""

    events: list[FeedEvent]


@dataclass(frozen=True, slots=True)
class Opened:
    """The stream's first item: it is subscribed and counted, and reads from here on."""


@dataclass(frozen=True, slots=True)
class Ended:
    """The stream's last item: why it ends (``revoked``: the key no longer authenticates;
    ``too-many-streams``: the principal opened another stream meanwhile)."""

    reason: str
    detail: str


StreamItem = Delivery | Opened | Heartbeat | Ended


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """How a stream paces itself (the service's settings)."""

    heartbeat_seconds: float
    catch_up_seconds: float
    batch_size: int


@dataclass(slots=True)
class LiveStream:
    """A started stream: where it resumes, and what it needs to go on."""

    pool: Pool
    hub: FeedHub
    cache: PrincipalCache | None
    token: str
    tenant_id: str
    principal_name: str
    credential: Credential
    expires_at: datetime | None
    reach: frozenset[str] | None
    visible_labels: frozenset[str] | None
    feed: FeedFilter
    start: FeedPosition
    options: FeedOptions

    def items(self) -> AsyncIterator[StreamItem]:
        """The stream's items until the client goes away (cancelled) or it ends."""
        return _run(self)


async def start_stream(
    work: Work,
    *,
    pool: Pool,
    hub: FeedHub,
    cache: PrincipalCache | None,
    token: str,
    feed: FeedFilter,
    after: FeedPosition | None,
    options: FeedOptions,
) -> LiveStream:
    """Check and audit a stream's start; the stream itself runs when its items are read,
    each read with a connection of ``pool`` held only for that read.

    A patient outside a patient-limited principal's list is :class:`NotFound` (as for the
    event list); a principal with its bound of streams open is :class:`TooManyRequests`.
    Without ``after`` the stream starts at the horizon: with every event whose transaction
    had not ended as it starts. The start is audited as a search (the patient named when the
    stream is of one patient).
    """
    access = work.access
    principal = access.principal
    if feed.patients is not None and not all(principal.may_reach(p) for p in feed.patients):
        raise NotFound("No events for that patient.")
    name = principal.name
    bound = hub.max_streams_per_principal
    if hub.open_streams(access.tenant_id, name) >= bound:
        raise TooManyRequests(
            f"This principal already has {bound} streams open; close one, or retry later.",
            retry_after=5,
        )
    conn = await work.connection()
    start = after if after is not None else FeedPosition(await feed_store.horizon(conn), 0)
    patients = feed.patients or frozenset()
    await record_success(
        work,
        AuditAction.SEARCH,
        patient_id=next(iter(patients)) if len(patients) == 1 else None,
        event_ids=[],
    )
    return LiveStream(
        pool=pool,
        hub=hub,
        cache=cache,
        token=token,
        tenant_id=access.tenant_id,
        principal_name=name,
        credential=principal.credential,
        expires_at=principal.expires_at,
        reach=principal.patients,
        visible_labels=access.visible_labels,
        feed=feed,
        start=start,
        options=options,
    )


async def _still_valid(stream: LiveStream) -> bool:
    if stream.expires_at is not None and stream.expires_at <= datetime.now(UTC):
        return False
    if stream.credential is not Credential.KEY:
        return True  # (a token cannot be revoked: it is good until it expires)
    try:
        await key_service.authenticate(stream.pool, stream.token, stream.cache)
    except Unauthenticated:
        return False
    return True


async def _read(
    stream: LiveStream, after: FeedPosition, *, shared: bool = False
) -> feed_store.FeedRead:
    """The stream's own read of the log (``shared``: the tenant's tail's, unfiltered)."""
    async with connection(stream.pool, stream.tenant_id) as conn:
        return await feed_store.events_after(
            conn,
            tenant_id=stream.tenant_id,
            after=after,
            feed=FeedFilter(None, None) if shared else stream.feed,
            reach=None if shared else stream.reach,
            visible_labels=None if shared else stream.visible_labels,
            limit=stream.options.batch_size,
        )


@dataclass(frozen=True, slots=True)
class _Look:
    events: list[FeedEvent]
    scanned: FeedPosition  # every matching final event before it is in events, or was
    waiting: bool
    more: bool  # a full read: look again at once


async def _look(stream: LiveStream, scanned: FeedPosition, max_age: float) -> _Look:
    """The stream's events after ``scanned``: from the tenant's tail when it covers the
    position (one read for every stream of the tenant), else from the log itself."""
    hub, batch = stream.hub, stream.options.batch_size
    tail = hub.tail_of(stream.tenant_id)
    if tail is not None and tail.covers(scanned):

        async def shared(after: FeedPosition) -> feed_store.FeedRead:
            return await _read(stream, after, shared=True)

        await tail.refresh(shared, max_age=max_age)
        if tail.covers(scanned):  # (still: the refresh may have let old events go)
            events = [
                e
                for e in tail.after(scanned)
                if may_see(
                    patient_id=e.patient_id,
                    event_type=e.event_type,
                    labels=e.labels,
                    feed=stream.feed,
                    reach=stream.reach,
                    visible_labels=stream.visible_labels,
                )
            ]
            return _Look(events, max(scanned, tail.scanned), tail.waiting, more=False)
    found = await _read(stream, scanned)
    events = found.events
    if len(events) == batch:
        return _Look(events, events[-1].position, found.waiting, more=True)
    # Not full: it found everything final below its horizon.
    reached = max(events[-1].position if events else scanned, FeedPosition(found.horizon, 0))
    if tail is None:
        hub.tail(stream.tenant_id, reached, batch)  # (the tenant's first stream makes it)
    return _Look(events, reached, found.waiting, more=False)


async def _run(stream: LiveStream) -> AsyncIterator[StreamItem]:
    hub = stream.hub
    if hub.open_streams(stream.tenant_id, stream.principal_name) >= hub.max_streams_per_principal:
        # (another stream of the principal started since this one was let in)
        yield Ended("too-many-streams", "This principal has too many streams open.")
        return
    with hub.subscribe(stream.tenant_id, stream.principal_name) as woken:
        yield Opened()
        async for item in _follow(stream, woken):
            yield item


async def _follow(stream: LiveStream, woken: asyncio.Event) -> AsyncIterator[StreamItem]:
    options, hub = stream.options, stream.hub
    scanned = stream.start  # every matching event before it was handed out (or predates)
    keys_seen = hub.keys_generation
    next_heartbeat = time.monotonic() + options.heartbeat_seconds
    next_key_check = next_heartbeat
    retry = _FIRST_RETRY
    wait = 0.0
    while True:
        woken.clear()  # (before the read: a write notified during it wakes the next wait)
        found = await _look(stream, scanned, max_age=wait)
        if found.events:
            yield Delivery(found.events)
        scanned = found.scanned
        if found.more:
            continue  # more to catch up on
        now = time.monotonic()
        if hub.keys_generation != keys_seen or now >= next_key_check:
            keys_seen = hub.keys_generation
            next_key_check = now + options.heartbeat_seconds
            if not await _still_valid(stream):
                yield Ended("revoked", "This stream's key was revoked or has expired.")
                return
        if found.events:
            next_heartbeat = now + options.heartbeat_seconds
        elif now >= next_heartbeat:
            yield Heartbeat()
            next_heartbeat = now + options.heartbeat_seconds
        wait = min(options.catch_up_seconds, max(next_heartbeat - now, 0.0))
        if found.waiting:
            wait, retry = min(wait, retry), min(retry * 2, options.catch_up_seconds)
        else:
            retry = _FIRST_RETRY
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), timeout=wait)
