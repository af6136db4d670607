"""Pure rules on client input: payload structure, identifiers, cursors, request hashes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from pydantic import ValidationError

from carelog.domain.cursor import (
    AUDIT_CURSOR_PATTERN,
    EVENT_CURSOR_PATTERN,
    decode_audit_cursor,
    decode_cursor,
    encode_audit_cursor,
    encode_cursor,
)
from carelog.domain.events import PatientEventCreate
from carelog.domain.limits import (
    check_json_value,
    dumps_each,
    is_valid_idempotency_key,
    is_valid_patient_id,
)
from carelog.domain.principals import Principal
from carelog.domain.scopes import Permission

pytestmark = pytest.mark.unit


def _nest(depth: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_depth_limit_is_exact() -> None:
    check_json_value(_nest(32))
    with pytest.raises(ValueError, match="nesting"):
        check_json_value(_nest(33))
    with pytest.raises(ValueError, match="nesting"):
        check_json_value({"a": [[[[1]]]]}, max_depth=4)


def test_very_deep_values_do_not_exhaust_the_stack() -> None:
    with pytest.raises(ValueError, match="nesting"):
        check_json_value(_nest(100_000))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"a": "x\x00y"}, "NUL"),
        ({"k\x00": 1}, "NUL"),
        ({"a": ["\ud800"]}, "surrogates"),
        ({"a": float("nan")}, "finite"),
        ({"a": float("inf")}, "finite"),
    ],
)
def test_values_postgres_cannot_store_are_refused(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_json_value(value)


def test_ordinary_payloads_pass() -> None:
    check_json_value(
        {
            "test": "HbA1c",
            "value": 8.4,
            "unit": "%",
            "flag": "high",
            "ok": True,
            "n": None,
            "list": [1, 2.5, "été", {"b": []}],
        }
    )


@pytest.mark.parametrize("value", ["P-2048", "P-10293", "a", "MRN:12.34_x", "9" * 64])
def test_good_patient_ids(value: str) -> None:
    assert is_valid_patient_id(value)


@pytest.mark.parametrize("value", ["", "-P", "P 1", "P/1", "..", "9" * 65, "P\n1", "Pé"])
def test_bad_patient_ids(value: str) -> None:
    assert not is_valid_patient_id(value)


def test_idempotency_keys() -> None:
    assert is_valid_idempotency_key("4f2c-retry:1")
    assert not is_valid_idempotency_key("")
    assert not is_valid_idempotency_key("a b")
    assert not is_valid_idempotency_key("k" * 256)


def test_cursor_round_trip() -> None:
    at = datetime(2026, 4, 21, 10, 30, 0, 123456, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, 42)) == (at, 42)


def test_every_cursor_of_the_documented_shape_is_a_position() -> None:
    at = datetime(2026, 4, 21, 10, 30, 0, 123456, tzinfo=UTC)
    assert decode_audit_cursor(encode_audit_cursor(at, 3, 2**62)) == (at, 3, 2**62)
    for cursor in ["A" * 22, "_" * 21 + "w", "-" * 21 + "Q", encode_cursor(at, 2**63 - 1)]:
        assert re.match(EVENT_CURSOR_PATTERN, cursor)
        occurred_at, _ = decode_cursor(cursor)
        assert occurred_at.tzinfo is not None
    for cursor in ["A" * 24, "_" * 24, encode_audit_cursor(at, 0, 1)]:
        assert re.match(AUDIT_CURSOR_PATTERN, cursor)
        decode_audit_cursor(cursor)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        "!!!!",
        encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), 0)[:-3],
        "MjAyNi0wMS0wMVQwMDowMDowMHw0Mg",
    ],  # naive timestamp
)
def test_bad_cursors(cursor: str) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        decode_cursor(cursor)


def test_request_hash_ignores_key_order_and_missing_time() -> None:
    a = PatientEventCreate.model_validate(
        {"patient_id": "P-1", "event_type": "x", "payload": {"a": 1, "b": 2}}
    )
    b = PatientEventCreate.model_validate(
        {"payload": {"b": 2, "a": 1}, "event_type": "x", "patient_id": "P-1"}
    )
    assert a.request_hash() == b.request_hash()
    c = PatientEventCreate.model_validate(
        {"patient_id": "P-1", "event_type": "x", "payload": {"a": 1, "b": 3}}
    )
    assert a.request_hash() != c.request_hash()


def test_same_instant_in_other_zone_hashes_the_same() -> None:
    utc = datetime(2026, 1, 1, 12, tzinfo=UTC)
    plus2 = utc.astimezone(timezone(timedelta(hours=2)))
    a = PatientEventCreate(patient_id="P-1", event_type="x", payload={}, occurred_at=utc)
    b = PatientEventCreate(patient_id="P-1", event_type="x", payload={}, occurred_at=plus2)
    assert a.request_hash() == b.request_hash()


def test_naive_clinical_time_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        PatientEventCreate.model_validate(
            {
                "patient_id": "P-1",
                "event_type": "x",
                "payload": {},
                "occurred_at": "2026-01-01T00:00:00",
            }
        )


def test_admin_implies_every_scope() -> None:
    admin = Principal(key_id="k", tenant_id="t", permissions=frozenset({Permission.ADMIN}))
    reader = Principal(key_id="k", tenant_id="t", permissions=frozenset({Permission.EVENTS_READ}))
    assert all(admin.has(permission) for permission in Permission)
    assert reader.has(Permission.EVENTS_READ)
    assert not reader.has(Permission.EVENTS_WRITE)
    assert reader.name == "key:k"


def test_dumps_each_is_orjson_on_each_value() -> None:
    # Strings holding the separator dumps_each splits at (orjson escapes it) split nowhere.
    values = [{"a": "\x1e"}, [",\x1e,", 1], "x", 1.5, None, {}, [], {"b": {"c": [True]}}]
    assert dumps_each(values) == [orjson.dumps(v) for v in values]
    assert dumps_each(values, option=orjson.OPT_SORT_KEYS) == [
        orjson.dumps(v, option=orjson.OPT_SORT_KEYS) for v in values
    ]
    assert dumps_each([]) == []
