"""The live feed: one process-wide fan-out of the log's notifications (``hub``) and the
streams that read the log from a position (``stream``)."""

from carelog.services.feed.hub import FeedHub
from carelog.services.feed.stream import (
    Delivery,
    Ended,
    FeedOptions,
    Heartbeat,
    LiveStream,
    Opened,
    StreamItem,
    start_stream,
)
from carelog.storage.feed import EVENTS_CHANNEL, FeedEvent

__all__ = [
    "EVENTS_CHANNEL",
    "Delivery",
    "Ended",
    "FeedEvent",
    "FeedHub",
    "FeedOptions",
    "Heartbeat",
    "LiveStream",
    "Opened",
    "StreamItem",
    "start_stream",
]
