"""Limits on what clients control: identifier shapes and the structure of JSON payloads."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue

try:
    import orjson
except ImportError:  # the bare install (no server extra) never reads a request body
    orjson = None  # type: ignore[assignment]

PATIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
EVENT_TYPE_PATTERN = r"^[A-Za-z][A-Za-z0-9_.:\-]{0,63}$"
SOURCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:/@+\-]{0,127}$"
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"

PatientId = Annotated[str, StringConstraints(pattern=PATIENT_ID_PATTERN)]
EventType = Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN)]
Source = Annotated[str, StringConstraints(pattern=SOURCE_PATTERN)]

_PATIENT_ID_RE = re.compile(PATIENT_ID_PATTERN)
_IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)

EARLIEST_YEAR = 1800
LATEST_YEAR = 2199

MAX_PAYLOAD_DEPTH = 32
MAX_STRING_CHARS = 100_000

# What the OpenAPI document says of every string a client sends (keys and strings inside
# payloads too): no NUL (PostgreSQL cannot store it). Lone surrogates are refused as well;
# JSON Schema has no way to say so (its strings are code points), the descriptions do.
NO_NUL_PATTERN = r"^[^\u0000]*$"
TEXT_RULE = "No NUL characters and no lone surrogates."

# Any JSON value PostgreSQL's jsonb can store, as the OpenAPI document says it (its
# component "JsonValue"): strings and keys without NUL. The nesting depth is limited too
# (MAX_PAYLOAD_DEPTH), which JSON Schema cannot say; the description does.
_TEXT_SCHEMA = {"type": "string", "pattern": NO_NUL_PATTERN, "maxLength": MAX_STRING_CHARS}
_JSON_VALUE_REF = {"$ref": "#/components/schemas/JsonValue"}
JSON_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "propertyNames": _TEXT_SCHEMA,
    "additionalProperties": _JSON_VALUE_REF,
}
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "description": f"A JSON value. {TEXT_RULE} Nested at most {MAX_PAYLOAD_DEPTH} levels deep.",
    "anyOf": [
        _TEXT_SCHEMA,
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": _JSON_VALUE_REF},
        JSON_OBJECT_SCHEMA,
    ],
}

# RFC 3339 date-times exactly as the service reads them: "T" and "Z" in either case, an
# offset under 24 hours, any number of fractional digits (kept to the microsecond).
_TIME = r"[Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
_DATE = r"-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
TIMESTAMP_PATTERN = r"^(000[1-9]|00[1-9]\d|0[1-9]\d{2}|[1-9]\d{3})" + _DATE + _TIME
CLINICAL_TIME_PATTERN = r"^(18|19|20|21)\d{2}" + _DATE + _TIME


@dataclass(frozen=True, slots=True)
class Documented:
    """Annotation metadata that adds ``keywords`` to a type's JSON Schema (the OpenAPI
    document) without validating anything itself: the type's validators enforce the same
    rule. Keywords the schema already has (e.g. a field's own shorter ``maxLength``) stay."""

    keywords: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(
        self, core_schema: Any, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        for key, value in self.keywords:
            schema.setdefault(key, value)
        return schema


def documented(**keywords: Any) -> Documented:
    """:class:`Documented` with these keywords (``max_length`` spelt ``maxLength``...)."""
    return Documented(tuple(keywords.items()))


def is_valid_patient_id(value: str) -> bool:
    """Whether ``value`` is an acceptable patient identifier."""
    return _PATIENT_ID_RE.match(value) is not None


def is_valid_idempotency_key(value: str) -> bool:
    """Whether ``value`` is an acceptable Idempotency-Key (printable ASCII, 1 to 255)."""
    return _IDEMPOTENCY_KEY_RE.match(value) is not None


def _check_clinical_time(value: datetime) -> datetime:
    # The year as written (in the client's offset), so that the pattern can say it exactly.
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"the year must be from {EARLIEST_YEAR} to {LATEST_YEAR}")
    return value


# pydantic would also take a number (or a numeric string) as seconds since 1970, so
# `since=0.5` or `"occurred_at": 0` became 1970: only the text of TIMESTAMP_PATTERN is read.
_RFC3339 = re.compile(TIMESTAMP_PATTERN)


def _rfc3339_only(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with a timezone, e.g. 2026-01-05T08:00:00Z")
    return value


Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339_only), documented(pattern=TIMESTAMP_PATTERN)
]
"""A date-time with its offset, given as RFC 3339 text (never a number)."""

ClinicalTime = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_only),
    AfterValidator(_check_clinical_time),
    documented(pattern=CLINICAL_TIME_PATTERN),
]
"""A :data:`Timestamp` whose year, as written, is from 1800 to 2199."""


def _check_string(value: str) -> None:
    # PostgreSQL's jsonb cannot hold NUL; lone surrogates cannot be encoded as UTF-8.
    if "\x00" in value:
        raise ValueError("strings must not contain NUL characters")
    if len(value) > MAX_STRING_CHARS:
        raise ValueError(f"strings must be at most {MAX_STRING_CHARS} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("strings must be valid Unicode (no lone surrogates)") from None


def no_duplicates(value: Any) -> Any:
    """A list as given, unless an item repeats (a set field must not fold repeats away)."""
    if isinstance(value, list) and len({repr(v) for v in value}) != len(value):
        raise ValueError("items must not repeat")
    return value


def check_text(value: str) -> str:
    """``value`` if PostgreSQL can store and compare it as text: no NUL, no lone surrogates,
    at most MAX_STRING_CHARS; else ``ValueError`` (a 422 naming the field)."""
    _check_string(value)
    return value


# The one rule for every string a client sends that reaches the database (reasons, search
# words, filters, descriptions): length and shape rules of each field come on top of it.
ClientText = Annotated[
    str,
    AfterValidator(check_text),
    documented(pattern=NO_NUL_PATTERN, maxLength=MAX_STRING_CHARS, description=TEXT_RULE),
]


def check_json_value(value: Any, *, max_depth: int = MAX_PAYLOAD_DEPTH) -> None:
    """Raise ``ValueError`` unless ``value`` is JSON that PostgreSQL's jsonb can store as is.

    Checks nesting depth, NUL characters and lone surrogates in keys and strings, and
    non-finite numbers. Iterative, so hostile nesting cannot exhaust the Python stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                raise ValueError(f"nesting deeper than {max_depth} levels")
            for key, child in item.items():
                _check_string(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                raise ValueError(f"nesting deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            _check_string(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite")


def storable_json_text(text: bytes) -> bool:
    """Whether the JSON text ``text``, which orjson read, certainly holds only what
    :func:`check_json_value` lets through, so that its values need no walk: orjson refuses
    invalid UTF-8, lone surrogates, raw control characters and numbers that overflow to
    infinity; a NUL can then only be written as the escape ``\\u0000``; no string is longer
    than the text; and no value nests deeper than the opening brackets it holds (those
    inside strings counted too: at worst a false "no")."""
    return (
        len(text) <= MAX_STRING_CHARS
        and text.count(b"{") + text.count(b"[") <= MAX_PAYLOAD_DEPTH
        and b"\\u0000" not in text
    )


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``pairs`` as a dict (a ``json.loads`` object_pairs_hook), unless a key repeats."""
    found = dict(pairs)
    if len(found) != len(pairs):
        # (The key is not named: a problem never echoes what the client sent.)
        raise json.JSONDecodeError("an object repeats a key", "", 0)
    return found


def may_repeat_a_key(body: bytes, parsed: Any) -> bool:
    """Whether the JSON text ``body``, which orjson read as ``parsed``, may hold an object
    that repeats a key; False only when it certainly does not.

    Outside its strings, JSON has a colon only after each key it writes, so the body holds
    one colon per key written plus the colons inside its strings. orjson keeps one of each
    repeated key and drops the other pairs whole; writing ``parsed`` again with orjson (which
    escapes no colon) gives one colon per key kept plus those in the strings kept. A string
    without a ``\\u`` escape holds exactly the colons it is written with, so for a body with
    no ``\\u`` at all the two counts are equal exactly when no pair was dropped. A ``\\u``
    escape can spell a colon, or a key another way ("a" and "\\u0061" are one key), so such
    a body, and one nested too deep for orjson to write, may repeat a key.
    """
    if b"\\u" in body:
        return True
    try:
        written = orjson.dumps(parsed)
    except orjson.JSONEncodeError:
        return True
    return body.count(b":") != written.count(b":")


def loads_strict(body: bytes) -> Any:
    """The JSON text ``body`` parsed by orjson (strict UTF-8, bounded nesting), refused
    (``json.JSONDecodeError``, a ``ValueError``) when an object repeats a key, which orjson
    would keep one of silently: a body that may (see :func:`may_repeat_a_key`, ~1 us for an
    event) is read once more (~12 us for an event, ~45 ms for a body near 1 MiB)."""
    parsed = orjson.loads(body)
    if may_repeat_a_key(body, parsed):
        json.loads(body, object_pairs_hook=unique_keys)
    return parsed


def dumps_each(values: Sequence[Any], *, option: int = 0) -> list[bytes]:
    """``[orjson.dumps(v, option=option) for v in values]``, written by one orjson call (a
    call for each small value costs about three times as much, most of it the call).

    The values are written between separators, a raw control character that orjson never
    writes itself (it escapes every control character inside strings): the text splits back
    into each value's exactly."""
    if not values:
        return []
    separator = orjson.Fragment(b"\x1e")  # written as it is
    written: list[Any] = []
    for value in values:
        written.append(value)
        written.append(separator)
    return orjson.dumps(written, option=option)[1 : -len(b",\x1e]")].split(b",\x1e,")
