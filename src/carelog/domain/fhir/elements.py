"""Reading FHIR elements back: date-times, codings, quantities, references and extensions,
each failing with :class:`~carelog.domain.fhir.imported.Invalid` at its path."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from carelog.domain.fhir import codes as c
from carelog.domain.fhir.imported import Invalid, PatientRef
from carelog.domain.limits import EARLIEST_YEAR, LATEST_YEAR

Resource = dict[str, Any]

_DATE_TIME = re.compile(
    r"^(\d{4})(-\d{2}(-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_PATIENT = re.compile(r"^(?:.*/)?Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]+)?$")
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")


def date_time(text: Any, where: str) -> datetime:
    """A FHIR dateTime or instant as an aware UTC datetime. A day without a time is that
    day's midnight UTC; an offset is converted to UTC. A year or a month alone is not a
    clinical time, nor is a time without its zone (FHIR requires one)."""
    if not isinstance(text, str):
        raise Invalid(where, "a date-time must be a string", "value")
    matched = _DATE_TIME.match(text)
    if matched is None:
        raise Invalid(where, f"{text!r} is not a FHIR dateTime", "value")
    if matched[3] is None:
        raise Invalid(where, f"{text!r}: a clinical time needs at least a day", "value")
    if matched[4] is not None and matched[6] is None:
        raise Invalid(where, f"{text!r}: a time needs its zone (Z or an offset)", "value")
    fraction = matched[5] or ""
    value = text.replace(fraction, fraction[:7]) if fraction else text  # microseconds at most
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(where, f"{text!r} is not a valid date-time", "value") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise Invalid(where, f"the year must be from {EARLIEST_YEAR} to {LATEST_YEAR}", "value")
    return parsed.astimezone(UTC)


def first_time(resource: Resource, paths: tuple[str, ...], where: str | None = None) -> datetime:
    """The clinical time: the first of ``paths`` (dotted, e.g. ``effectivePeriod.start``)
    the resource has. None of them is an error at ``where``, by default the first path's
    choice element (``Observation.effective[x]``)."""
    kind = resource["resourceType"]
    for path in paths:
        value: Any = resource
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return date_time(value, f"{kind}.{path}")
    named = ", ".join(paths)
    head = re.sub(r"(DateTime|Period|Instant|String)$", "[x]", paths[0].split(".")[0])
    raise Invalid(where or f"{kind}.{head}", f"no clinical time: give one of {named}", "required")


def codings(concept: Any) -> list[Resource]:
    """A CodeableConcept's codings (none when it has no ``coding``)."""
    found = concept.get("coding") if isinstance(concept, dict) else None
    return [x for x in found or [] if isinstance(x, dict)]


def code_in(concept: Any, system: str) -> str | None:
    """The first code of ``system`` in a CodeableConcept."""
    for coding in codings(concept):
        if coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return None


def display_in(concept: Any, system: str) -> str | None:
    """The display of the first coding of ``system``."""
    for coding in codings(concept):
        if coding.get("system") == system and coding.get("code"):
            display = coding.get("display")
            return str(display) if display else None
    return None


def text_of(concept: Any) -> str | None:
    """A CodeableConcept's text, else the display of its first coding that has one."""
    if not isinstance(concept, dict):
        return None
    if concept.get("text"):
        return str(concept["text"])
    for coding in codings(concept):
        if coding.get("display"):
            return str(coding["display"])
    return None


def first(items: Any) -> Any:
    """The first item of a list element (``None`` when absent or empty)."""
    return items[0] if isinstance(items, list) and items else None


def quantity(value: Any, where: str) -> tuple[float, str | None]:
    """A Quantity's value and UCUM unit (its ``code`` in UCUM, else its ``unit`` as given).
    A unit of another system than UCUM is an error."""
    if not isinstance(value, dict) or value.get("value") is None:
        raise Invalid(f"{where}.value", "a quantity needs its value", "required")
    number = value["value"]
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise Invalid(f"{where}.value", "a quantity's value must be a number", "value")
    system = value.get("system")
    if system is not None and system != c.UCUM:
        raise Invalid(
            f"{where}.system", f"units must be UCUM ({c.UCUM}), not {system}", "code-invalid"
        )
    unit = value.get("code") if system == c.UCUM else value.get("unit")
    return number, None if unit is None else str(unit)


def dose_of(dosage: Resource, route: str | None, frequency: str | None) -> str | None:
    """The dose: the dosage's text less its route and frequency (as the export writes it),
    else its doseQuantity."""
    text = dosage.get("text")
    tail = " ".join(part for part in (route, frequency) if part)
    if isinstance(text, str) and text.strip():
        if not tail:
            return text.strip()
        if text.endswith(tail):
            return text[: -len(tail)].strip() or None
    amount = (first(dosage.get("doseAndRate")) or {}).get("doseQuantity")
    if isinstance(amount, dict) and isinstance(amount.get("value"), int | float):
        value = amount["value"]
        number = str(int(value)) if float(value).is_integer() else str(value)
        return f"{number} {amount.get('unit') or amount.get('code') or ''}".strip()
    return text.strip() if isinstance(text, str) and text.strip() else None


def extensions(resource: Resource, url: str) -> Iterator[tuple[int, Resource]]:
    """The resource's extensions of ``url``, with their place in ``extension``."""
    for at, extension in enumerate(resource.get("extension") or []):
        if isinstance(extension, dict) and extension.get("url") == url:
            yield at, extension


def json_extension(resource: Resource, url: str) -> dict[str, Any] | None:
    """The JSON object an extension of ``url`` holds as its ``valueString``."""
    for at, extension in extensions(resource, url):
        where = f"{resource['resourceType']}.extension[{at}].valueString"
        try:
            value = json.loads(extension.get("valueString") or "")
        except (ValueError, RecursionError):
            raise Invalid(where, "the extension must hold a JSON object", "value") from None
        if not isinstance(value, dict):
            raise Invalid(where, "the extension must hold a JSON object", "value")
        return value
    return None


def _unescape(text: str) -> str:
    raw = _ESCAPE.sub(lambda m: bytes.fromhex(m[1].decode()), text.encode())
    return raw.decode("utf-8", errors="replace")


def patient_ref(reference: Any, where: str) -> PatientRef:
    """Whom a Reference names: ``Patient/<id>`` (relative, absolute or with ``_history``),
    ``Patient?identifier=system|value``, ``urn:uuid:``/``urn:oid:`` (a Bundle's fullUrl),
    or a logical reference by ``identifier``. Any other target is an error."""
    if not isinstance(reference, dict):
        raise Invalid(where, "the patient is required", "required")
    kind = reference.get("type")
    if kind is not None and kind != "Patient":
        raise Invalid(f"{where}.type", f"the subject must be a Patient, not a {kind}")
    text = reference.get("reference")
    if isinstance(text, str) and text:
        if text.startswith(("urn:uuid:", "urn:oid:")):
            return PatientRef(url=text)
        if text.startswith("Patient?"):
            query = dict(p.partition("=")[::2] for p in text[len("Patient?") :].split("&"))
            system, bar, value = _unescape(query.get("identifier", "")).rpartition("|")
            if not value:
                raise Invalid(f"{where}.reference", "only Patient?identifier=system|value")
            return PatientRef(system=system if bar else None, value=value)
        matched = _PATIENT.match(text)
        if matched is None:
            raise Invalid(f"{where}.reference", f"{text!r} is not a reference to a Patient")
        absolute = text if "://" in text else None
        return PatientRef(id=matched[1], url=absolute)
    identifier = reference.get("identifier")
    if isinstance(identifier, dict) and identifier.get("value"):
        named = identifier.get("system")
        return PatientRef(
            system=None if named is None else str(named), value=str(identifier["value"])
        )
    raise Invalid(where, "the patient reference needs a reference or an identifier", "required")
