"""Limits on what clients control: identifier shapes and the structure of JSON payloads."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StringConstraints

PATIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
EVENT_TYPE_PATTERN = r"^[A-Za-z][A-Za-z0-9_.:\-]{0,63}$"
SOURCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:/@+\-]{0,127}$"
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"

PatientId = Annotated[str, StringConstraints(pattern=PATIENT_ID_PATTERN)]
EventType = Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN)]
Source = Annotated[str, StringConstraints(pattern=SOURCE_PATTERN)]

_PATIENT_ID_RE = re.compile(PATIENT_ID_PATTERN)
_IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)

EARLIEST = datetime(1800, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

MAX_PAYLOAD_DEPTH = 32
MAX_STRING_CHARS = 100_000


def is_valid_patient_id(value: str) -> bool:
    """Whether ``value`` is an acceptable patient identifier."""
    return _PATIENT_ID_RE.match(value) is not None


def is_valid_idempotency_key(value: str) -> bool:
    """Whether ``value`` is an acceptable Idempotency-Key (printable ASCII, 1 to 255)."""
    return _IDEMPOTENCY_KEY_RE.match(value) is not None


def _check_clinical_time(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 1800-01-01 and 2200-01-01")
    return value


# RFC 3339 as clients send it: a date, "T" (or a space), a time and an offset. pydantic would
# also take a number (or a numeric string) as seconds since 1970, so `since=0.5` or
# `"occurred_at": 0` became 1970: refused instead.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_only(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with a timezone, e.g. 2026-01-05T08:00:00Z")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]
"""A date-time with its offset, given as RFC 3339 text (never a number)."""

ClinicalTime = Annotated[Timestamp, AfterValidator(_check_clinical_time)]


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
ClientText = Annotated[str, AfterValidator(check_text)]


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
