"""Tenant-registered JSON Schemas: checked once when registered, then run safely on writes.

A tenant's schema is code that runs on the server for every write of its type, so it is held
to what cannot hurt the other tenants:

- it is valid Draft 2020-12, at most :data:`MAX_SCHEMA_CHARS` long and
  :data:`~carelog.domain.limits.MAX_PAYLOAD_DEPTH` deep;
- every ``$ref`` / ``$dynamicRef`` resolves inside the document: references are looked up in
  a registry that never retrieves, so no URL is ever fetched, at registration or on a write;
  a nested ``$id`` (a second base URI, against which the check would resolve wrongly) is
  refused;
- ``pattern``, ``patternProperties`` and the ``additionalProperties`` that depends on them
  run on RE2 (linear time, no backtracking), so no crafted value can make a pattern take
  exponential time; a pattern RE2 cannot compile (backreferences, lookaround) is refused at
  registration, and so is ``unevaluatedProperties`` beside ``patternProperties`` (jsonschema
  would run those patterns with Python's backtracking engine).

A bad schema is a 422 naming ``schema.<path>`` at registration; one stored before these checks
makes writes of its type a 422 naming ``event_type``, never a 500 and never a fetch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, UnknownType
from jsonschema.exceptions import ValidationError as SchemaViolation
from jsonschema.protocols import Validator
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from carelog.domain.limits import MAX_PAYLOAD_DEPTH, check_json_value
from carelog.errors import ValidationFailed

MAX_SCHEMA_CHARS = 64_000
MAX_PATTERN_CHARS = 1_000
_RE2_MAX_MEM = 1 << 18  # bytes per compiled pattern: a huge automaton is refused, not built
_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Never retrieves: a reference outside the document (and the bundled meta-schemas) is
# unresolvable, and nothing is fetched.
_NO_RETRIEVAL: Registry[Any] = Registry()


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = _RE2_MAX_MEM
    options.log_errors = False
    return options


@lru_cache(maxsize=256)  # (at most 256 x _RE2_MAX_MEM held per process)
def _compiled(pattern: str) -> re2._Regexp[str]:
    return re2.compile(pattern, options=_options())


def _pattern(validator: Validator, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield SchemaViolation(f"does not match the schema's pattern {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = _compiled(pattern)
        for key, value in instance.items():
            if regex.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    # jsonschema's own finds the extra keys with Python's re over patternProperties.
    if not validator.is_type(instance, "object"):
        return
    named = schema.get("properties", {})
    patterns = [_compiled(p) for p in schema.get("patternProperties", {})]
    extras = [
        key for key in instance if key not in named and not any(r.search(key) for r in patterns)
    ]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif additional is False and extras:
        yield SchemaViolation("has properties the schema does not allow")


# jsonschema's extend() is untyped; the class it returns is a Draft 2020-12 validator.
_SafeValidator: Any = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    validators={
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    },
)


def _problem(path: list[str | int], message: str, kind: str) -> ValidationFailed:
    field = ".".join(["schema", *(str(p) for p in path)])
    return ValidationFailed(
        f"Not an acceptable JSON Schema: {field}.",
        errors=[{"field": field, "location": "body", "message": message[:300], "type": kind}],
    )


def _walk(schema: Any) -> Iterator[tuple[list[str | int], str, Any]]:
    """Every (path, key, value) of the document's objects, iteratively (depth is bounded
    before this runs, but a stack is cheaper than recursion either way)."""
    stack: list[tuple[list[str | int], Any]] = [([], schema)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                yield path, key, value
                stack.append(([*path, key], value))
        elif isinstance(node, list):
            stack.extend(([*path, i], item) for i, item in enumerate(node))


def _check_pattern(path: list[str | int], pattern: str) -> None:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise _problem(path, f"patterns are at most {MAX_PATTERN_CHARS} characters", "pattern")
    try:
        _compiled(pattern)
    except re2.error:
        raise _problem(
            path,
            "not a pattern this server runs: no backreferences, lookahead or lookbehind "
            "(patterns run on RE2, in linear time)",
            "unsafe_pattern",
        ) from None


def check_schema(schema: dict[str, Any]) -> None:
    """Refuse a schema that is too big or deep, not valid Draft 2020-12, refers outside
    itself (or to nothing), or has a pattern RE2 cannot run: a 422 naming ``schema.<path>``."""
    try:
        check_json_value(schema, max_depth=MAX_PAYLOAD_DEPTH)
    except ValueError as exc:
        raise _problem([], str(exc), "schema_too_deep") from None
    if len(json.dumps(schema, ensure_ascii=False)) > MAX_SCHEMA_CHARS:
        raise _problem([], f"schemas are at most {MAX_SCHEMA_CHARS} characters", "too_large")
    if schema.get("$schema", _DIALECT) != _DIALECT:
        raise _problem(["$schema"], f"only {_DIALECT} is supported", "schema_error")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise _problem(list(exc.path), exc.message, "schema_error") from None
    resolver = _NO_RETRIEVAL.resolver_with_root(DRAFT202012.create_resource(schema))
    unevaluated: list[str | int] | None = None
    with_patterns = False
    for path, key, value in _walk(schema):
        if key == "$id" and path and isinstance(value, str):
            raise _problem([*path, key], "only the schema's root may set $id", "nested_id")
        if key == "unevaluatedProperties":
            unevaluated = [*path, key]
        if key in ("$ref", "$dynamicRef") and isinstance(value, str):
            try:
                resolver.lookup(value)
            except Unresolvable:
                raise _problem(
                    [*path, key],
                    "references must resolve inside the schema (e.g. #/$defs/name); "
                    "nothing is fetched",
                    "unresolvable_ref",
                ) from None
        elif key == "pattern" and isinstance(value, str):
            _check_pattern([*path, key], value)
        elif key == "patternProperties" and isinstance(value, dict):
            with_patterns = True
            for pattern in value:
                _check_pattern([*path, key, pattern], pattern)
    if unevaluated is not None and with_patterns:
        raise _problem(
            unevaluated,
            "unevaluatedProperties cannot be combined with patternProperties here "
            "(its patterns would run on a backtracking engine); use additionalProperties",
            "unsafe_pattern",
        )


@lru_cache(maxsize=256)
def _validator(canonical: str) -> Validator | ValidationFailed:
    schema = json.loads(canonical)
    try:
        check_schema(schema)
    except ValidationFailed as exc:
        return exc
    checker: Validator = _SafeValidator(schema, registry=_NO_RETRIEVAL)
    return checker


def _stored_schema_invalid(event_type: str) -> ValidationFailed:
    return ValidationFailed(
        f"The schema registered for '{event_type}' is not acceptable; an admin must register "
        "it again (PUT /event-types/{event_type}).",
        errors=[
            {
                "field": "event_type",
                "location": "body",
                "message": "its registered schema fails the registration checks",
                "type": "invalid_registered_schema",
            }
        ],
    )


def check_against_schema(event_type: str, schema: dict[str, Any], payload: dict[str, Any]) -> None:
    """Check a payload against a tenant-registered type's JSON Schema; 422 per failing path.
    The schema passes the registration checks first (once per distinct schema: cached)."""
    validator = _validator(json.dumps(schema, sort_keys=True, ensure_ascii=False))
    if isinstance(validator, ValidationFailed):
        raise _stored_schema_invalid(event_type)
    try:
        failures = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    except (Unresolvable, UnknownType, re2.error, RecursionError):
        raise _stored_schema_invalid(event_type) from None
    if not failures:
        return
    errors = [
        {
            "field": ".".join(["payload", *(str(p) for p in failure.absolute_path)]),
            "location": "body",
            # The validator's message can quote the value: say only which rule failed.
            "message": f"fails the schema's '{failure.validator}' rule",
            "type": "schema_violation",
        }
        for failure in failures[:20]
    ]
    names = ", ".join(e["field"] for e in errors)
    raise ValidationFailed(f"Invalid {event_type} payload: {names}.", errors=errors)
