"""The pagination kit every list route uses (issue 10, item 4): a cursor names a position,
and the next page's Link is this request with that cursor, its other parameters kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.requests import Request

from carelog.api.kit.pagination import after_audit_row, after_event, next_link, page_headers
from carelog.domain.cursor import encode_audit_cursor, encode_cursor

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)


def _request(path: str, query: bytes) -> Request:
    return Request({"type": "http", "path": path, "query_string": query, "headers": []})


def test_a_cursor_names_the_position_it_was_made_from() -> None:
    assert after_event(None) is None
    assert after_event(encode_cursor(AT, 42)) == (AT, 42)
    assert after_audit_row(None) is None
    assert after_audit_row(encode_audit_cursor(AT, 7, 99)) == (AT, 7, 99)


def test_the_next_link_keeps_the_request_and_replaces_the_cursor() -> None:
    old = encode_cursor(AT, 1)
    request = _request("/patient-events/P 1", b"event_type=a&event_type=b&cursor=" + old.encode())
    link = next_link(request, "NEXT")
    assert link == '</patient-events/P%201?event_type=a&event_type=b&cursor=NEXT>; rel="next"'


def test_page_headers_link_only_when_there_is_a_next_page() -> None:
    request = _request("/search", b"q=x")
    assert page_headers(request, None, encode_cursor) == {}
    headers = page_headers(request, (AT, 5), encode_cursor)
    assert headers == {"Link": f'</search?q=x&cursor={encode_cursor(AT, 5)}>; rel="next"'}
