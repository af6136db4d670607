"""Writing FHIR elements (the counterpart of ``elements``, which reads them back): instants
and date-times, quantities, codeable concepts, and a resource's elements set only when they
have a value."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from carelog.domain.fhir import codes as c

Resource = dict[str, Any]


def instant(when: datetime) -> str:
    """A FHIR instant, in UTC."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def date_time(when: datetime | date) -> str:
    """A FHIR dateTime (a date stays a date)."""
    if isinstance(when, datetime):
        # A payload time without a zone is read as UTC (Carelog's own times are all UTC).
        return instant(when if when.tzinfo else when.replace(tzinfo=UTC))
    return when.isoformat()


def quantity(value: float, unit: str | None) -> Resource:
    """A Quantity, its unit a UCUM code."""
    if unit is None:
        return {"value": value}
    return {"value": value, "unit": unit, "system": c.UCUM, "code": unit}


def concept(codings: Iterable[tuple[str, str | None, str | None]], text: str | None) -> Resource:
    """A CodeableConcept of the codings that have a code (system, code, display)."""
    concept: Resource = {}
    coded = [
        {"system": system, "code": code, **({"display": display} if display else {})}
        for system, code, display in codings
        if code
    ]
    if coded:
        concept["coding"] = coded
    if text:
        concept["text"] = text
    return concept


def coded(system: str, code: str | None, display: str | None = None) -> Resource | None:
    """A CodeableConcept of one coding, or ``None`` without a code."""
    return concept([(system, code, display)], None) if code else None


def put(resource: Resource, **elements: Any) -> Resource:
    """Set the elements that have a value (FHIR forbids empty ones)."""
    resource.update({k: v for k, v in elements.items() if v not in (None, "", [], {})})
    return resource
