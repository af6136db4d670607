"""The fast read path of common Observations (``domain.fhir.fast_observation``, issue 13):
every Observation it accepts reads exactly as through the full ``fhir.resources`` model (the
same event, or the same rejection), and it accepts none that the full model refuses: those,
and any shape it does not know, fall back to the full model, so the issues are unchanged."""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from carelog.cli.generate import to_events
from carelog.domain.fhir import codes as c
from carelog.domain.fhir import history, read_resource
from carelog.domain.fhir.fast_observation import accepts
from carelog.domain.fhir.fast_observation import content_hash as fast_hash
from carelog.domain.fhir.imported import Imported, Rejected
from carelog.domain.fhir.ingest import content_hash
from carelog.domain.fhir.validation import validate
from carelog.synthetic.population import cohort
from tests.factories import changed

pytestmark = pytest.mark.unit

Resource = dict[str, Any]


def _observations(seed: int, patients: int = 6) -> list[Resource]:
    found = []
    next_id = 1
    for patient in cohort(patients, seed, end=datetime(2026, 1, 1, tzinfo=UTC), years=2):
        events = to_events(patient.timed_records(), next_id)
        next_id += len(events)
        found += [r for r in history(events) if r["resourceType"] == "Observation"]
    return found


POPULATION = {seed: _observations(seed) for seed in (1, 2, 7)}


def _same(resource: Resource) -> bool:
    """Whether the fast path took ``resource``, after checking that reading it gives what
    the full path gives (the event, or the rejection with its issues)."""
    taken = accepts(copy.deepcopy(resource))
    full = read_resource(copy.deepcopy(resource), fast=False)
    fast = read_resource(copy.deepcopy(resource))
    assert fast == full
    if taken:
        assert validate(copy.deepcopy(resource), fast=False) == []
    return taken


@pytest.mark.parametrize("seed", sorted(POPULATION))
def test_the_synthetic_population_reads_the_same_on_the_fast_path(seed: int) -> None:
    observations = POPULATION[seed]
    kinds = {
        (r.get("category") or [{}])[0].get("coding", [{}])[0].get("code") for r in observations
    }
    assert {"laboratory", "vital-signs"} <= kinds
    for resource in observations:
        assert _same(resource), resource  # every one of them takes the fast path
    reads = [read_resource(r) for r in observations]
    assert sum(isinstance(r, Imported) for r in reads) > 0.9 * len(reads)


def _lab() -> Resource:
    for resource in POPULATION[1]:
        if "referenceRange" in resource and "interpretation" in resource:
            return copy.deepcopy(resource)
    raise AssertionError("no lab result with a range and an interpretation")


LAB = _lab()
OPTIONAL = [key for key in LAB if key not in ("resourceType", "status", "code")]


@pytest.mark.parametrize("element", OPTIONAL)
def test_each_optional_element_missing(element: str) -> None:
    resource = copy.deepcopy(LAB)
    del resource[element]
    assert _same(resource)


def _with(**changes: Any) -> Resource:
    return changed(LAB, **changes)


def _coding(system: str, code: str) -> Resource:
    return {"system": system, "code": code}


def _concept(system: str, code: str) -> Resource:
    return {"coding": [_coding(system, code)]}


UCUM = {"unit": "mg/dL", "system": c.UCUM, "code": "mg/dL"}
VARIANTS: dict[str, Resource] = {
    "period": _with(
        effectiveDateTime=None,
        effectivePeriod={"start": "2025-03-01T08:00:00+02:00", "end": "2025-03-01T09:00:00Z"},
    ),
    "period without end": _with(effectiveDateTime=None, effectivePeriod={"start": "2025-03-01"}),
    "instant": _with(effectiveDateTime=None, effectiveInstant="2025-03-01T08:00:00.123Z"),
    "no time": _with(effectiveDateTime=None),
    "day only": _with(effectiveDateTime="2025-03-01"),
    "year only": _with(effectiveDateTime="2025"),
    "leap day": _with(effectiveDateTime="2024-02-29T10:00:00Z"),
    "low only": _with(referenceRange=[{"low": {"value": 3.5, **UCUM}}]),
    "high only": _with(referenceRange=[{"high": {"value": 200, **UCUM}}]),
    "range text": _with(referenceRange=[{"text": "under 200", "low": {"value": 1}}]),
    "range in another unit": _with(referenceRange=[{"high": {"value": 11.1, "unit": "mmol/L"}}]),
    "interpretation H": _with(interpretation=[_concept(c.INTERPRETATION, "H")]),
    "interpretation unknown": _with(interpretation=[_concept(c.INTERPRETATION, "ZZ")]),
    "security BH": _with(meta={"versionId": "3", "security": [_coding(c.ACT_CODE, "BH")]}),
    "security two": _with(meta={"security": [_coding(c.ACT_CODE, x) for x in ("HIV", "STD")]}),
    "security unknown": _with(meta={"security": [_coding(c.ACT_CODE, "XYZ")]}),
    "no meta": _with(meta=None),
    "value string": _with(valueQuantity=None, valueString="positive"),
    "value concept": _with(valueQuantity=None, valueCodeableConcept={"text": "Detected"}),
    "value coded": _with(valueQuantity=None, valueCodeableConcept=_concept(c.SNOMED, "10828004")),
    "value integer": _with(valueQuantity=None, valueInteger=7),
    "no value": _with(valueQuantity=None),
    "integer quantity": _with(valueQuantity={"value": 5, **UCUM}),
    "unit without system": _with(valueQuantity={"value": 5.5, "unit": "mg/dL"}),
    "comparator": _with(valueQuantity={"value": 5, "comparator": "<", **UCUM}),
    "status amended": _with(status="amended"),
    "status corrected": _with(status="corrected"),
    "status entered-in-error": _with(status="entered-in-error"),
    "status preliminary": _with(status="preliminary"),
    "status bogus": _with(status="bogus"),
    "subject by identifier": _with(subject={"identifier": {"system": "urn:mrn", "value": "M-1"}}),
    "subject absolute": _with(subject={"reference": "https://ehr.example/fhir/Patient/P-9"}),
    "subject not a patient": _with(subject={"reference": "Group/G-1"}),
    "subject urn": _with(subject={"reference": "urn:uuid:0b4a3c2e-1d5f-4a8b-9c7d-6e5f4a3b2c1d"}),
    "no subject": _with(subject=None),
    "specimen": _with(specimen={"display": "Venous blood"}),
    "performer": _with(performer=[{"reference": "Practitioner/1", "display": "Dr X"}]),
    "encounter": _with(encounter={"reference": "Encounter/5"}),
    "references": _with(basedOn=[{"reference": "ServiceRequest/1"}], device={"display": "x"}),
    "note": _with(note=[{"text": "*haemolysed*", "time": "2025-03-01", "authorString": "lab"}]),
    "empty note": _with(note=[{"text": ""}]),
    "method and body site": _with(method={"text": "HPLC"}, bodySite={"text": "Left arm"}),
    "no category": _with(category=None),
    "survey": _with(category=[_concept(c.OBSERVATION_CATEGORY, "survey")]),
    "social history": _with(category=[_concept(c.OBSERVATION_CATEGORY, "social-history")]),
    "code text only": _with(code={"text": "Glucose"}),
    "empty code": _with(code={}),
    "identifier with use": _with(identifier=[{"use": "official", "system": "urn:x", "value": "1"}]),
    "tag and source": _with(meta={"versionId": "1", "source": "urn:x", "tag": [{"code": "x"}]}),
    "NUL in the text": _with(code={"text": "Glu\x00cose"}),
    "huge value": _with(valueQuantity={"value": 1e300, **UCUM}),
    "huge integer": _with(valueQuantity={"value": 10**40, **UCUM}),
    "long text": _with(code={"text": "x" * 5000}),
    # fhir_core's uri pattern (\S*, searched) takes any text: so does the fast path.
    "system with a space": _with(code={"coding": [{"system": "http://loinc org", "code": "1"}]}),
}  # fmt: skip


# A year or a month alone: fhir_core's validators take it apart in Python, the fast path
# leaves it to them.
PARTIAL_DATES = {"year only"}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_hand_made_variants_read_the_same(name: str) -> None:
    assert _same(VARIANTS[name]) is (name not in PARTIAL_DATES)


MALFORMED: dict[str, Resource] = {
    "bad date": _with(effectiveDateTime="2025-02-30T10:00:00Z"),
    "bad month": _with(effectiveDateTime="2025-13-01"),
    "no zone": _with(effectiveDateTime="2025-03-01T10:00:00"),
    "hour 24": _with(effectiveDateTime="2025-03-01T24:00:00Z"),
    "date as a number": _with(effectiveDateTime=1700000000),
    "bad instant": _with(issued="2025-03-01"),
    "bad period": _with(effectiveDateTime=None, effectivePeriod={"start": "yesterday"}),
    "bad status code": _with(status=" final"),
    "status a number": _with(status=1),
    "missing status": _with(status=None),
    "missing code": _with(code=None),
    "bad coding code": _with(code={"coding": [{"system": c.LOINC, "code": "2345 -7 "}]}),
    "bad id": _with(id="lab 1"),
    "empty id": _with(id=""),
    "bad versionId": _with(meta={"versionId": "1/2"}),
    "unknown element": _with(colour="red"),
    "unknown nested element": _with(valueQuantity={"value": 1, "colour": "red"}),
    "extension": _with(extension=[{"url": "urn:x", "valueString": "y"}]),
    "modifier extension": _with(modifierExtension=[{"url": "urn:x", "valueString": "y"}]),
    "primitive extension": _with(_status={"extension": [{"url": "urn:x", "valueCode": "z"}]}),
    "contained": _with(contained=[{"resourceType": "Patient", "id": "p"}]),
    "text narrative": _with(text={"status": "generated", "div": "<div>x</div>"}),
    "value ratio": _with(valueQuantity=None, valueRatio={"numerator": {"value": 1}}),
    "value boolean": _with(valueQuantity=None, valueBoolean=True),
    "two values": _with(valueString="high"),
    "two effective": _with(effectiveInstant="2025-03-01T08:00:00Z"),
    "component with two values": _with(
        component=[{"code": {"text": "x"}, "valueString": "a", "valueQuantity": {"value": 1}}]
    ),
    "note without text": _with(note=[{"authorString": "lab"}]),
    "note by reference": _with(note=[{"text": "x", "authorReference": {"display": "y"}}]),
    "component without code": _with(component=[{"valueString": "a"}]),
    "value text as a number": _with(valueQuantity={"value": "5.5", **UCUM}),
    "value a boolean": _with(valueQuantity={"value": True, **UCUM}),
    "value infinite": _with(valueQuantity={"value": math.inf, **UCUM}),
    "value not a number": _with(valueQuantity={"value": math.nan, **UCUM}),
    "integer too big": _with(valueQuantity=None, valueInteger=2**31),
    "integer a float": _with(valueQuantity=None, valueInteger=7.5),
    "empty text": _with(code={"text": ""}),
    "category not a list": _with(category={"coding": [{"code": "laboratory"}]}),
    "code a list": _with(code=[{"text": "x"}]),
    "null subject": _with(subject=None) | {"subject": None},
    "null in a list": _with(category=[None]),
    "empty list": _with(category=[]),
    "resource type lowercase": _with(resourceType="observation"),
    "user selected as text": _with(code={"coding": [{"code": "x", "userSelected": "yes"}]}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_or_unknown_shapes_fall_back_to_the_full_model(name: str) -> None:
    resource = MALFORMED[name]
    assert not _same(resource)


# Outside the fast path's shape or exact JSON types, but valid to fhir.resources (an
# extension, a contained resource; lax types: a number as a date, "yes" as a boolean, an
# empty list): the full model takes them, and the readers decide.
VALID_R4 = {
    "extension", "primitive extension", "text narrative", "value ratio", "value boolean",
    "empty list", "null subject", "date as a number",
    "value text as a number", "contained", "user selected as text", "note by reference",
}  # fmt: skip
REFUSED_BY_R4 = sorted(set(MALFORMED) - VALID_R4)


@pytest.mark.parametrize("name", sorted(VALID_R4))
def test_shapes_r4_takes_are_read_by_the_full_model(name: str) -> None:
    assert validate(copy.deepcopy(MALFORMED[name]), fast=False) == []
    assert not accepts(copy.deepcopy(MALFORMED[name]))


@pytest.mark.parametrize("name", REFUSED_BY_R4)
def test_what_r4_refuses_is_failed_with_its_location_and_reason(name: str) -> None:
    read = read_resource(copy.deepcopy(MALFORMED[name]))
    assert isinstance(read, Rejected), read
    assert read.issues
    assert all(i.location and i.message for i in read.issues)
    assert read == read_resource(copy.deepcopy(MALFORMED[name]), fast=False)


BAD_VALUES: list[Any] = [
    "", " ", " x", "x ", "a  b", "\x00", "\t", "2025-02-30", "2025-03-01T10:00:00",
    "2025-03-01T10:00Z", "10:00:00", "-1", "1e5", "Patient/ x", 0, -1, 1.5, 10**30, math.inf,
    True, None, [], [None], {}, {"x": 1}, [{}], "\ud800",
]  # fmt: skip


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for at, item in enumerate(value):
            yield from _leaves(item, (*path, at))


def _replaced(resource: Resource, path: tuple[Any, ...], value: Any) -> Resource:
    changed = copy.deepcopy(resource)
    target: Any = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = copy.deepcopy(value)
    return changed


def _bases() -> list[Resource]:
    """A lab result, a blood pressure (components) and a triage note (text values)."""
    bases = [LAB]
    for code in ("85354-9", c.TRIAGE_NOTE[0]):
        bases += [r for r in POPULATION[2] if r["code"]["coding"][0]["code"] == code][:1]
    assert len(bases) == 3
    return bases


@pytest.mark.parametrize("base", range(len(_bases())))
def test_no_element_set_to_a_bad_value_is_accepted_when_r4_refuses_it(base: int) -> None:
    resource = _bases()[base]
    taken = 0
    for path in list(_leaves(resource))[1:]:
        if path == ("resourceType",):
            continue
        for value in BAD_VALUES:
            taken += _same(_replaced(resource, path, value))
    assert taken > 0  # some of them are valid R4 (a number as a decimal, a text as a text)


DATES = [
    "2025-03-01", "2000-02-29", "1900-02-29", "2023-02-29", "2025-04-31", "2025-00-10",
    "0000-01-01", "0001-01-01", "1000-01-01", "9999-12-31", "2025", "2025-03", "2025-3-1",
    "2025-03-01T10:00:00Z", "2025-03-01T10:00:00+14:00", "2025-03-01T10:00:00+14:01",
    "2025-03-01T10:00:00-13:59", "2025-03-01T10:00:00+1400", "2025-03-01T23:59:60Z",
    "2025-03-01T10:00:00.1Z", "2025-03-01T10:00:00.123456Z", "2025-03-01T10:00:00.1234567Z",
    "2025-03-01T10:00:00.123456789012Z", "2025-03-01T10:00:00z", "2025-03-01t10:00:00Z",
    "2025-03-01T10:00Z", "2025-03-01T10:00:00", " 2025-03-01", "2025-03-01\n",
    "2025-03-01T10:00:00Z\n", "2025-03-01T10:00:00.Z", "2025-03-01T10:00:00,5Z",
    "\uff12\uff10\uff12\uff15-03-01", "\u0662025-03-01", "2025-03-01T10:00:00+05:30",
]  # fmt: skip


@pytest.mark.parametrize("text", DATES)
def test_dates_and_instants_read_the_same(text: str) -> None:
    _same(_with(effectiveDateTime=text))
    _same(_with(effectiveDateTime=None, effectivePeriod={"start": text, "end": text}))
    _same(_with(issued=text))
    _same(_with(meta={"lastUpdated": text}))


def test_every_number_json_gives_is_a_fhir_decimal() -> None:
    """Why the fast path takes any integer and finite float as a decimal: fhir_core takes a
    value whose str() matches FHIR's decimal pattern."""
    from fhir_core.types import Decimal

    rng = random.Random(13)
    numbers: list[float | int] = [0, -0.0, 5e-324, 1.7976931348623157e308, 1e16, 1e-5, 10**40]
    numbers += [rng.uniform(-1e6, 1e6) for _ in range(500)]
    numbers += [rng.random() * 10.0 ** rng.randint(-320, 300) for _ in range(500)]
    for number in numbers:
        assert Decimal.pattern.fullmatch(str(number)), number
        assert _same(_with(valueQuantity={"value": number, **UCUM}))


def _text_everywhere(text: str) -> Resource:
    resource = _with(code={"text": text, "coding": [{"system": c.LOINC, "code": "1"}]})
    resource["subject"] = {"reference": "Patient/P-1", "display": text}
    return resource


def test_the_fast_content_hash_is_the_same_bytes() -> None:
    """orjson's canonical JSON is the standard library's for every character (escapes of
    the control characters, U+2028, astral planes), key order (by code point) and number
    an accepted Observation holds; a float under 1e-4 is hashed the usual way."""
    characters = [chr(x) for x in range(0x10000) if not 0xD800 <= x < 0xE000]
    characters += [chr(x) for x in range(0x10000, 0x110000, 97)]
    for at in range(0, len(characters), 512):
        text = "x" + "".join(characters[at : at + 512])
        resource = _text_everywhere(text)
        assert accepts(resource)
        assert fast_hash(resource) == content_hash(resource)
    keyed = _with(valueCodeableConcept=None)
    keyed["code"] = {"text": "\uffff", "coding": [{"system": "\U00010000", "display": "é"}]}
    assert fast_hash(keyed) == content_hash(keyed)
    for value in (1e-4, 0.00012, 1e15, 1e16, 1e22, 123456789.125, -0.0, 2**63 - 1, 2**64 - 1):
        resource = _with(valueQuantity={"value": value, **UCUM})
        assert fast_hash(resource) == content_hash(resource), value
    for value in (5e-5, 1e-7, -3e-300, 2**64, -(2**63) - 1, 10**40):
        resource = _with(referenceRange=[{"low": {"value": value}}])
        assert accepts(resource)
        assert fast_hash(resource) is None
        assert _same(resource)
