"""GET /patient-events/stream: the tenant's events as Server-Sent Events, live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import StreamingResponse

from carelog.api.deps import EventsRead, audited, runtime
from carelog.api.kit.params import EventTypeParam
from carelog.api.problems import problem_responses
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction
from carelog.domain.feed import FeedFilter, FeedPosition
from carelog.domain.limits import PATIENT_ID_PATTERN
from carelog.errors import ValidationFailed
from carelog.services import feed as feed_service

router = APIRouter(tags=["events"], route_class=JsonRoute)

STREAM_PATH = "/patient-events/stream"
EVENT_STREAM = "text/event-stream"
# How long a client that lost the connection waits before it reconnects (the SSE retry).
RETRY_MS = 2000

PatientParam = Annotated[str, Query(pattern=PATIENT_ID_PATTERN)]


def _position(last_event_id: str | None) -> FeedPosition | None:
    if last_event_id is None:
        return None
    found = FeedPosition.decode(last_event_id)
    if found is None:
        raise ValidationFailed(
            "Last-Event-ID is not a position this stream gave.",
            errors=[
                {
                    "field": "Last-Event-ID",
                    "location": "header",
                    "message": "expected the id of an event of this stream: <tx>-<event id>",
                    "type": "value_error",
                }
            ],
        )
    return found


async def _sse(items: AsyncIterator[feed_service.StreamItem]) -> AsyncIterator[bytes]:
    async for item in items:
        if isinstance(item, feed_service.Delivery):
            # (one write to the socket for all the events of one look)
            yield b"".join(
                b"id: %s\nevent: patient_event\ndata: %s\n\n"
                % (event.position.encode().encode(), event.json.encode())
                for event in item.events
            )
        elif isinstance(item, feed_service.Opened):
            yield b"retry: %d\n: open\n\n" % RETRY_MS
        elif isinstance(item, feed_service.Heartbeat):
            yield b": heartbeat\n\n"
        else:
            body = orjson.dumps({"code": item.reason, "detail": item.detail})
            yield b"event: %s\ndata: %s\n\n" % (item.reason.encode(), body)


@router.get(
    STREAM_PATH,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-Sent Events: each event's `id` is its position in the log.",
            "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
        },
        **problem_responses(404, 429),
    },
)
@audited(AuditAction.SEARCH)
async def stream_patient_events(
    request: Request,
    caller: EventsRead,
    patient_id: Annotated[
        list[PatientParam] | None, Query(max_length=100, description="Repeatable.")
    ] = None,
    event_type: Annotated[
        list[EventTypeParam] | None, Query(max_length=20, description="Repeatable.")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=48,
            description="Resume after this event: the `id` of the last event received.",
        ),
    ] = None,
) -> StreamingResponse:
    """The tenant's events as they are recorded (workflow transitions too), as Server-Sent
    Events, optionally only of some patients (`patient_id`) and types (`event_type`), both
    repeatable. Each event's `id` is its position in the log; reconnecting with that
    `Last-Event-ID` gives every matching event recorded after it, in order, once, then
    the live ones. A comment every 15 s keeps the connection open; when the key is revoked
    the stream sends `event: revoked` and ends. A principal holds a bounded number of
    streams (429 with `Retry-After` over it). Patient limits and sensitivity labels apply
    as for the event list."""
    state = runtime(request)
    settings = caller.settings
    after = _position(last_event_id)
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    feed = FeedFilter(
        patients=frozenset(patient_id) if patient_id else None,
        event_types=frozenset(event_type) if event_type else None,
    )
    async with caller.work() as work:
        stream = await feed_service.start_stream(
            work,
            pool=caller.pool,
            hub=state.feed,
            cache=state.principal_cache,
            token=token,
            feed=feed,
            after=after,
            options=feed_service.FeedOptions(
                heartbeat_seconds=settings.feed_heartbeat_seconds,
                catch_up_seconds=settings.feed_catch_up_seconds,
                batch_size=settings.feed_batch_size,
            ),
        )
    return StreamingResponse(
        _sse(stream.items()),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
