"""Opaque keyset-pagination cursors: a position (occurred_at, id) in newest-first order."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime


def encode_cursor(occurred_at: datetime, event_id: int) -> str:
    """The cursor that continues a newest-first listing after this event."""
    raw = f"{occurred_at.isoformat()}|{event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Parse a cursor made by :func:`encode_cursor`; ``ValueError`` when it is not one."""
    if not cursor or len(cursor) > 128:
        raise ValueError("invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        occurred_at = datetime.fromisoformat(stamp)
        event_id = int(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("invalid cursor") from None
    if occurred_at.tzinfo is None or not 0 < event_id < 2**63:
        raise ValueError("invalid cursor")
    return occurred_at, event_id


def encode_audit_cursor(recorded_at: datetime, lane: int, seq: int) -> str:
    """The cursor that continues a newest-first audit listing after this row."""
    raw = f"{recorded_at.isoformat()}|{lane}|{seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_audit_cursor(cursor: str) -> tuple[datetime, int, int]:
    """Parse a cursor made by :func:`encode_audit_cursor`; ``ValueError`` otherwise."""
    if not cursor or len(cursor) > 128:
        raise ValueError("invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, lane, seq = raw.split("|")
        position = (datetime.fromisoformat(stamp), int(lane), int(seq))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("invalid cursor") from None
    if position[0].tzinfo is None or not (0 <= position[1] < 32768 and 0 < position[2] < 2**63):
        raise ValueError("invalid cursor")
    return position
