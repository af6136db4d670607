"""A fast check of the common Observations (laboratory, survey and vital-signs results, as
``carelog generate --format fhir`` writes them and lab feeds send them) against R4: one
compiled schema (pydantic-core, in Rust) of exactly the shape it knows, which says whether
``fhir.resources`` would find the resource valid, at a fraction of its cost.

It accepts a resource only when the full model would: every element of the shape is checked
with the constraints ``fhir.resources`` (``fhir_core``) applies to it, taken from
``fhir_core`` itself (the patterns of string, code, id and uri; its own dateTime, instant and
decimal validators), and more strictly where the full model is lax (JSON types exact: no
number as a date, no text as a decimal; no null; no empty list). Anything else (an element
outside the shape, an extension, a ``_status``, a contained resource, a value[x] it does not
handle, two choices of one element, any failure) is not accepted, and the full model then
gives the verdict and its messages. So it only skips work: what is read from an accepted
resource is what the full path reads. Its content hash too (:func:`content_hash`, the same
bytes by orjson as ``ingest.canonical_json`` gives, when that is sure).

The shape: ``resourceType``, ``id``, ``meta`` (versionId, lastUpdated, source, security,
tag), ``identifier``, ``status`` (required), ``category``, ``code`` (required),
``subject``, ``encounter``, ``effectiveDateTime`` | ``effectiveInstant`` |
``effectivePeriod``, ``issued``, the references (basedOn, partOf, focus, performer,
device, hasMember, derivedFrom), ``note`` (text, time, authorString), ``valueQuantity`` |
``valueString`` | ``valueCodeableConcept`` | ``valueInteger``, ``interpretation``,
``method``, ``bodySite``, ``specimen``, ``referenceRange`` (low, high, type, text) and
``component`` (code, a value of the same four, interpretation, referenceRange)."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from fhir_core.types import Code, DateTime, Id, Instant, Markdown, String, Uri
from pydantic_core import SchemaValidator, ValidationError, core_schema

__all__ = ["accepts", "content_hash"]

Schema = core_schema.CoreSchema

_VALUES = frozenset({"valueQuantity", "valueString", "valueCodeableConcept", "valueInteger"})
_EFFECTIVE = frozenset({"effectiveDateTime", "effectiveInstant", "effectivePeriod"})
_INT32 = 2**31


def _text(metadata: Iterable[Any]) -> Schema:
    """A strict JSON string with the constraints of a ``fhir_core`` string type (its pattern,
    lengths), read from the type itself."""
    limits: dict[str, Any] = {}
    for item in metadata:
        for name in ("pattern", "min_length", "max_length"):
            value = getattr(item, name, None)
            if value is not None:
                limits[name] = value
    return core_schema.str_schema(strict=True, **limits)


def _inner(type_: type[Any]) -> Schema:
    """The pydantic-core schema ``fhir_core``'s validator of ``type_`` hands a value to."""
    wrapped = type_.__get_pydantic_core_schema__(datetime.datetime, None)
    assert wrapped["type"] == "function-wrap"
    inner: Schema = wrapped["schema"]
    return inner


# FHIR's dateTime and instant patterns (fhir_core's, searched as whole strings), less what
# fhir_core's validators take apart in Python (a year or a month alone, a leap second): a
# day, then a time to the second with its zone, or none (not for an instant). Then the same
# date-time parsing (in Rust) as fhir_core's validators end with: a real day of the calendar.
_DAY = (
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-"
    r"(0[1-9]|[1-2][0-9]|3[0-1])"
)
_TIME = (
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
    r"(Z|([+\-])((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
)
STRING = _text(String())
CODE = _text(Code())
ID = _text(Id())
URI = _text(Uri())  # type: ignore[call-arg]  # (its pattern is a class attribute)
MARKDOWN = _text(Markdown())  # type: ignore[call-arg]
DATE_TIME = core_schema.chain_schema(
    [core_schema.str_schema(strict=True, pattern=f"^{_DAY}({_TIME})?$"), _inner(DateTime)]
)
INSTANT = core_schema.chain_schema(
    [core_schema.str_schema(strict=True, pattern=f"^{_DAY}{_TIME}$"), _inner(Instant)]
)
# fhir_core's decimal: a value whose str() matches FHIR's decimal pattern, which every
# integer and every finite float's does; strictly JSON numbers here (not a text, a boolean).
DECIMAL = core_schema.union_schema(
    [
        core_schema.int_schema(strict=True),
        core_schema.float_schema(strict=True, allow_inf_nan=False),
    ]
)
INTEGER = core_schema.int_schema(strict=True, ge=-_INT32, le=_INT32 - 1)
BOOLEAN = core_schema.bool_schema(strict=True)


def _element(required: Iterable[str] = (), **fields: Schema) -> Schema:
    """A JSON object of exactly these elements (any other is refused), ``required`` ones
    present."""
    needed = set(required)
    return core_schema.typed_dict_schema(
        {
            name: core_schema.typed_dict_field(schema, required=name in needed)
            for name, schema in fields.items()
        },
        extra_behavior="forbid",
        strict=True,
    )


def _list(item: Schema) -> Schema:
    return core_schema.list_schema(item, min_length=1, strict=True)


CODING = _element(
    system=URI, version=STRING, code=CODE, display=STRING, userSelected=BOOLEAN
)  # fmt: skip
CONCEPT = _element(coding=_list(CODING), text=STRING)
PERIOD = _element(start=DATE_TIME, end=DATE_TIME)
IDENTIFIER = _element(use=CODE, type=CONCEPT, system=URI, value=STRING, period=PERIOD)
REFERENCE = _element(reference=STRING, type=URI, identifier=IDENTIFIER, display=STRING)
QUANTITY = _element(value=DECIMAL, comparator=CODE, unit=STRING, system=URI, code=CODE)
META = _element(
    versionId=ID, lastUpdated=INSTANT, source=URI, security=_list(CODING), tag=_list(CODING)
)
NOTE = _element(("text",), authorString=STRING, time=DATE_TIME, text=MARKDOWN)
RANGE = _list(_element(low=QUANTITY, high=QUANTITY, type=CONCEPT, text=STRING))
VALUES = {
    "valueQuantity": QUANTITY,
    "valueString": STRING,
    "valueCodeableConcept": CONCEPT,
    "valueInteger": INTEGER,
}
COMPONENT = _element(
    ("code",), code=CONCEPT, interpretation=_list(CONCEPT), referenceRange=RANGE, **VALUES
)
OBSERVATION = _element(
    ("resourceType", "status", "code"),
    resourceType=core_schema.literal_schema(["Observation"]),
    id=ID,
    meta=META,
    identifier=_list(IDENTIFIER),
    status=CODE,
    category=_list(CONCEPT),
    code=CONCEPT,
    subject=REFERENCE,
    encounter=REFERENCE,
    effectiveDateTime=DATE_TIME,
    effectiveInstant=INSTANT,
    effectivePeriod=PERIOD,
    issued=INSTANT,
    basedOn=_list(REFERENCE),
    partOf=_list(REFERENCE),
    focus=_list(REFERENCE),
    performer=_list(REFERENCE),
    device=REFERENCE,
    hasMember=_list(REFERENCE),
    derivedFrom=_list(REFERENCE),
    note=_list(NOTE),
    interpretation=_list(CONCEPT),
    method=CONCEPT,
    bodySite=CONCEPT,
    specimen=REFERENCE,
    referenceRange=RANGE,
    component=_list(COMPONENT),
    **VALUES,
)
_VALIDATOR = SchemaValidator(OBSERVATION)


def _one_choice(element: dict[str, Any], choices: frozenset[str]) -> bool:
    """At most one type of a choice element (``value[x]``): the full model refuses two."""
    return len(choices.intersection(element)) <= 1


def accepts(resource: dict[str, Any]) -> bool:
    """Whether ``resource`` is an Observation of the known shape that is valid R4 (then
    ``fhir.resources`` finds no issue in it). ``False`` says only that this check does not
    know: the full model decides."""
    if not _one_choice(resource, _VALUES) or not _one_choice(resource, _EFFECTIVE):
        return False
    components = resource.get("component")
    if isinstance(components, list):
        for component in components:
            if isinstance(component, dict) and not _one_choice(component, _VALUES):
                return False
    try:
        _VALIDATOR.validate_python(resource)
    except (ValidationError, TypeError, ValueError, RecursionError):
        return False
    return True


def _quantities(resource: dict[str, Any]) -> Iterator[Any]:
    """Where an accepted Observation may hold a float: its quantities' values (the schema
    allows a float as a decimal only)."""
    for holder in (resource, *(resource.get("component") or ())):
        yield holder.get("valueQuantity")
        for bounds in holder.get("referenceRange") or ():
            yield bounds.get("low")
            yield bounds.get("high")


def content_hash(resource: dict[str, Any]) -> str | None:
    """``ingest.content_hash`` of a resource :func:`accepts` took (SHA-256 of its canonical
    JSON without ``meta``: sorted keys, no spaces, UTF-8), with orjson, which writes the same
    bytes as the standard library for every value such a resource holds but a float under
    1e-4 (orjson writes 0.00005 where Python writes 5e-05) and an integer beyond 64 bits
    (which it refuses): ``None`` for those (the caller hashes it the slow way)."""
    for quantity in _quantities(resource):
        value = quantity.get("value") if quantity else None
        if isinstance(value, float) and value and abs(value) < 1e-4:
            return None
    body = {key: value for key, value in resource.items() if key != "meta"}
    try:
        data = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None
    return hashlib.sha256(data).hexdigest()
