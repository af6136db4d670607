"""The quick test for repeated JSON keys never lets one through: a body it clears has none,
whatever its nesting, escapes and colons inside strings."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carelog.domain.limits import may_repeat_a_key, unique_keys

pytestmark = pytest.mark.unit


def _repeats(body: bytes) -> bool:
    """The full reading: json with a hook that sees every pair as written."""
    try:
        json.loads(body, object_pairs_hook=unique_keys)
    except json.JSONDecodeError:
        return True
    return False


def _cleared(body: bytes) -> bool:
    return not may_repeat_a_key(body, orjson.loads(body))


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1, "a": 2}',
        b'{"a": 1, "\\u0061": 2}',
        b'{"\\u0061": 1, "a": "x:y"}',
        b'{"a": 1, "a": "\\u003a"}',
        b'{"a": {"b": 1, "b": {"c": ":"}}}',
        b'[{"a": 1}, {"a": 1, "a": 1}]',
        b'{"x": [{"k": "1:2"}, {"k": 3, "k": 4}]}',
        b'{"a:": 1, "a:": 2}',
        b'{"t": "12:00", "t": "12:00"}',
        b'{"a\\"": 1, "a\\"": 2}',
        b'{"a": 1,\n "a"\t: 2}',
    ],
)
def test_a_body_that_repeats_a_key_is_never_cleared(body: bytes) -> None:
    assert _repeats(body)
    assert not _cleared(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"patient_id": "P-1", "event_type": "lab_result", "payload": {"value": 8.4}}',
        b'{"occurred_at": "2026-12-02T04:00:00Z", "note": "a: b", "k:": ["::"]}',
        b'[{"a": 1}, {"a": 1}, {"b": {"a": {"a": 2}}}]',
        b'{"a": "\\"x\\": 1, \\"a\\": 2"}',
        b'"a: 1"',
        b"[]",
        b"{}",
    ],
)
def test_an_ordinary_body_is_cleared_without_the_second_reading(body: bytes) -> None:
    assert not _repeats(body)
    assert _cleared(body)


def test_a_body_with_an_escape_or_too_deep_to_write_gets_the_full_reading() -> None:
    assert may_repeat_a_key(b'{"a": "\\u00e9"}', {"a": "\u00e9"})
    deep: Any = []
    for _ in range(300):
        deep = [deep]
    assert may_repeat_a_key(b"[" * 301 + b"]" * 301, deep)


# Keys from a tiny alphabet so that objects often repeat one, each character written plainly
# or escaped (a \u escape, or the short one), with colons and quotes among them.
_CHARS = st.sampled_from(["a", "b", ":", '"', "\\", "\u00e9", " "])


def _spell(char: str, style: int) -> str:
    if style == 1:
        return f"\\u{ord(char):04x}"
    if char in '"\\':
        return "\\" + char
    return char


def _string(draw: st.DrawFn) -> str:
    chars = draw(st.lists(st.tuples(_CHARS, st.integers(0, 1)), max_size=3))
    return '"' + "".join(_spell(c, s) for c, s in chars) + '"'


@st.composite
def _json_text(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.integers(0, 3 if depth < 3 else 1))
    if kind == 0:
        return _string(draw)
    if kind == 1:
        return draw(st.sampled_from(["1", "-2.5e3", "true", "null"]))
    items = draw(st.lists(_json_text(depth + 1), max_size=4))
    if kind == 2:
        return "[" + ", ".join(items) + "]"
    return "{" + ", ".join(f"{_string(draw)} : {item}" for item in items) + "}"


@settings(max_examples=3000, deadline=None)
@given(_json_text())
def test_whatever_it_clears_the_full_reading_clears(text: str) -> None:
    body = text.encode()
    if _cleared(body):
        assert not _repeats(body), body
