"""Keyset pagination for every list route: the cursor parameters, the position a cursor
names, and the ``Link`` to the next page with its OpenAPI header.

A list route takes ``cursor: EventCursor = None`` (or ``AuditCursor``), asks its service for
the page after :func:`after_event` (``after_audit_row``) of it, and answers with
:func:`page_headers`: the cursor of the page's last row, in a ``Link`` to the same request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import Query, Request

from carelog.domain.cursor import (
    AUDIT_CURSOR_PATTERN,
    EVENT_CURSOR_PATTERN,
    decode_audit_cursor,
    decode_cursor,
)

_WHERE = "Where to continue: the cursor of the previous page's `Link` header."

EventCursor = Annotated[str | None, Query(pattern=EVENT_CURSOR_PATTERN, description=_WHERE)]
AuditCursor = Annotated[str | None, Query(pattern=AUDIT_CURSOR_PATTERN, description=_WHERE)]

# The OpenAPI header of a page's answer.
NEXT_PAGE = {
    "Link": {
        "description": 'The next page, when there is one: `<path?...&cursor=...>; rel="next"`.',
        "schema": {"type": "string"},
    }
}

P = TypeVar("P", bound=tuple[Any, ...])


def after_event(cursor: str | None) -> tuple[datetime, int] | None:
    """The (occurred_at, id) an event cursor continues after; ``None``: the first page.
    (The parameter's pattern has already refused any other shape.)"""
    return decode_cursor(cursor) if cursor is not None else None


def after_audit_row(cursor: str | None) -> tuple[datetime, int, int] | None:
    """The (recorded_at, lane, seq) an audit cursor continues after; ``None``: the first."""
    return decode_audit_cursor(cursor) if cursor is not None else None


def next_link(request: Request, cursor: str) -> str:
    """``Link`` to the next page: this request's path and query with the new cursor.

    A path-absolute reference (RFC 8288 resolves it against the request), so it stays right
    behind proxies that rewrite the host.
    """
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    params.append(("cursor", cursor))
    return f'<{quote(request.url.path)}?{urlencode(params)}>; rel="next"'


def page_headers(
    request: Request, next_after: P | None, encode: Callable[..., str]
) -> dict[str, str]:
    """The headers of a page: a ``Link`` to the next one when ``next_after`` names where
    it starts (``encode`` makes that position a cursor)."""
    if next_after is None:
        return {}
    return {"Link": next_link(request, encode(*next_after))}
