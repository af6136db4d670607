"""Opaque keyset-pagination cursors: a position in newest-first order.

A cursor is the base64url text (no padding) of fixed-size big-endian fields, so every string
of its shape is a position and its pattern (in the OpenAPI document) says exactly what is
accepted: a made-up cursor is a position like any other, and lists the caller's own rows from
there. Times are microseconds since 1970 UTC, which is PostgreSQL's own precision.
"""

from __future__ import annotations

import base64
import re
import struct
from datetime import UTC, datetime, timedelta
from uuid import UUID

# (occurred_at, event id): 16 bytes, 22 characters; the last one holds 2 bits and 4 zero bits.
EVENT_CURSOR_PATTERN = r"^[A-Za-z0-9_-]{21}[AQgw]$"
# (recorded_at, lane, seq): 18 bytes, 24 characters.
AUDIT_CURSOR_PATTERN = r"^[A-Za-z0-9_-]{24}$"

_EVENT = struct.Struct(">qq")
_AUDIT = struct.Struct(">qhq")
_EVENT_RE = re.compile(EVENT_CURSOR_PATTERN)
_AUDIT_RE = re.compile(AUDIT_CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
_MIN_US = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _ONE_MICROSECOND
_MAX_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _ONE_MICROSECOND


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _ONE_MICROSECOND


def _time(micros: int) -> datetime:
    # A made-up cursor may name a time Python cannot hold: before or after every row anyway.
    return _EPOCH + timedelta(microseconds=min(max(micros, _MIN_US), _MAX_US))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, shape: re.Pattern[str], fields: struct.Struct) -> tuple[int, ...]:
    if not shape.match(cursor):
        raise ValueError("invalid cursor")
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    values: tuple[int, ...] = fields.unpack(raw)
    return values


def encode_cursor(occurred_at: datetime, event_id: int) -> str:
    """The cursor that continues a newest-first listing after this event."""
    return _encode(_EVENT.pack(_micros(occurred_at), event_id))


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The position of a cursor of :data:`EVENT_CURSOR_PATTERN`'s shape; ``ValueError``
    when it is not of that shape."""
    micros, event_id = _decode(cursor, _EVENT_RE, _EVENT)
    return _time(micros), event_id


def encode_audit_cursor(recorded_at: datetime, lane: int, seq: int) -> str:
    """The cursor that continues a newest-first audit listing after this row."""
    return _encode(_AUDIT.pack(_micros(recorded_at), lane, seq))


def decode_audit_cursor(cursor: str) -> tuple[datetime, int, int]:
    """The position of a cursor of :data:`AUDIT_CURSOR_PATTERN`'s shape; ``ValueError``
    otherwise."""
    micros, lane, seq = _decode(cursor, _AUDIT_RE, _AUDIT)
    return _time(micros), lane, seq


# (rank, sort time, case id) of a workflow's queue: 26 bytes, 35 characters; the last one
# holds 4 bits and 2 zero bits.
CASE_CURSOR_PATTERN = r"^[A-Za-z0-9_-]{34}[AEIMQUYcgkosw048]$"
_CASE = struct.Struct(">hq16s")
_CASE_RE = re.compile(CASE_CURSOR_PATTERN)


def encode_case_cursor(rank: int, sort_at: datetime, case_id: UUID) -> str:
    """The cursor that continues a queue (in its rank, time, id order) after this case."""
    return _encode(_CASE.pack(rank, _micros(sort_at), case_id.bytes))


def decode_case_cursor(cursor: str) -> tuple[int, datetime, UUID]:
    """The position of a cursor of :data:`CASE_CURSOR_PATTERN`'s shape; ``ValueError``
    otherwise."""
    if not _CASE_RE.match(cursor):
        raise ValueError("invalid cursor")
    rank, micros, raw = _CASE.unpack(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return rank, _time(micros), UUID(bytes=raw)
