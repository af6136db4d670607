"""The context's sections, each a pure function of the standing events of its kind.

- Allergies: each allergen's latest entry, unless it is inactive, resolved, refuted or
  entered in error (FHIR AllergyIntolerance's clinical and verification statuses); an
  unconfirmed or presumed one says so.
- Conditions: each condition's latest entry, unless inactive, in remission, resolved or
  refuted; a provisional, differential or unconfirmed one says so.
- Medications: each drug's latest entry while it is active or intended.
- Labs: each test's latest result with the previous one and the trend, compared in one unit
  (``domain.units``); where the units cannot be compared both values are shown, no trend.
- Vitals: each measurement's own latest reading and time (a later pulse does not hide the
  blood pressure taken before it).
- Notes: the newest notes, documents and encounters.
- Open items: every open escalation, prior-authorization case and care task, with its
  state, due time and whether it is overdue, citing its newest transition (and naming the
  case id).

Which events are about the same fact is ``facts.py``'s rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from carelog.domain.context.facts import Fact, facts, first_present, newest_first
from carelog.domain.context.model import Line, line, one_line
from carelog.domain.events import PatientEvent
from carelog.domain.units import convert
from carelog.domain.workflows import WORKFLOWS
from carelog.domain.workflows.case import Case

ABNORMAL_FLAGS = {"high", "low", "abnormal", "critical", "H", "L", "A", "HH", "LL"}
INACTIVE_CONDITIONS = {"inactive", "remission", "resolved"}
INACTIVE_ALLERGIES = {"inactive", "resolved"}
REFUTED = {"refuted", "entered-in-error"}
TENTATIVE = {"unconfirmed", "presumed", "provisional", "differential"}
ACTIVE_MEDICATIONS = {None, "active", "intended"}
NOTE_TYPES = ("triage_note", "document", "encounter")
NOTES_SHOWN = 10
NOTE_CHARS = 280
NUMBER = (int, float)
# Measurements of a vital_signs payload: members that are objects with a value (or a blood
# pressure), keys up to this long (the rule migration 0014 indexes them by).
SIGN_KEY_CHARS = 64
KNOWN_SIGNS = (
    "blood_pressure",
    "heart_rate",
    "respiratory_rate",
    "temperature",
    "spo2",
    "weight",
    "height",
)


def allergies(events: Sequence[PatientEvent]) -> list[Line]:
    """Each allergen's latest entry that still stands."""
    lines = []
    for fact in facts(events):
        p = fact.latest.payload
        if p.get("clinical_status") in INACTIVE_ALLERGIES or _verification(p) in REFUTED:
            continue
        detail = ", ".join(str(p[k]) for k in ("reaction", "severity") if p.get(k))
        if p.get("criticality") == "high":
            detail = ", ".join(filter(None, [detail, "high criticality"]))
        text = f"{_str(p.get('substance')) or _coded_name(p, 'unnamed substance')}"
        text += (f": {detail}" if detail else "") + _tentative(p) + _maybe(fact)
        lines.append(line(text, _cites(fact)))
    return lines


def conditions(events: Sequence[PatientEvent]) -> list[Line]:
    """Each condition's latest entry while it is active."""
    lines = []
    for fact in facts(events):
        p = fact.latest.payload
        if p.get("clinical_status") in INACTIVE_CONDITIONS or _verification(p) in REFUTED:
            continue
        codes = " ".join(f"{k.upper()} {p[k]}" for k in ("icd10", "snomed") if p.get(k))
        name = _str(p.get("name"))
        text = (name or codes or "unnamed condition") + (f" ({codes})" if codes and name else "")
        lines.append(line(text + _tentative(p) + _maybe(fact), _cites(fact)))
    return lines


def medications(events: Sequence[PatientEvent]) -> list[Line]:
    """Each drug's latest entry while it is active or intended."""
    lines = []
    for fact in facts(events):
        p = fact.latest.payload
        if p.get("status") not in ACTIVE_MEDICATIONS:
            continue
        detail = " ".join(str(p[k]) for k in ("dose", "route", "frequency") if p.get(k))
        name = _str(p.get("name")) or f"RxNorm {p.get('rxnorm')}"
        text = name + (f" {detail}" if detail else "")
        if p.get("status") == "intended":
            text += " (intended)"
        lines.append(line(text + _maybe(fact), _cites(fact)))
    return lines


def labs(events: Sequence[PatientEvent]) -> list[Line]:
    """Each test's latest result, the previous one and the trend between them."""
    lines = []
    for fact in facts(events, per_key=2):
        latest = fact.latest
        p = latest.payload
        name = _str(p.get("test")) or f"LOINC {p.get('loinc')}"
        text = f"{name}: {_quantity(p)} ({latest.occurred_at.date().isoformat()})"
        if _abnormal(p):
            text += f" ABNORMAL{(' ' + str(p['flag'])) if p.get('flag') else ''}"
        cites = [latest.id]
        if len(fact.events) > 1:
            previous = fact.events[1]
            text += f"; previous {_quantity(previous.payload)}"
            text += f" ({previous.occurred_at.date().isoformat()})" + _trend(previous, latest)
            cites.append(previous.id)
        if fact.alternatives > 1:
            text += "; recorded by name only, kept apart from the coded tests it may be"
        text += _maybe(fact)
        lines.append(line(text, [*cites, *(e.id for e in fact.maybe)]))
    return lines


def vitals(events: Sequence[PatientEvent]) -> list[Line]:
    """Each measurement's latest reading, with its own time."""
    latest: dict[str, tuple[PatientEvent, Any]] = {}
    for event in sorted(events, key=newest_first):
        for key, value in event.payload.items():
            if key not in latest and is_measurement(key, value):
                latest[key] = (event, value)
    order = {key: i for i, key in enumerate(KNOWN_SIGNS)}
    lines = []
    for key in sorted(latest, key=lambda k: (order.get(k, len(order)), k)):
        event, value = latest[key]
        if "systolic" in value:
            reading = f"BP {value.get('systolic')}/{value.get('diastolic')}"
            reading += f" {value['unit']}" if value.get("unit") else ""
        else:
            reading = f"{key.replace('_', ' ')} {value['value']}"
            reading += f" {value['unit']}" if value.get("unit") else ""
        lines.append(line(f"{reading} ({event.occurred_at.isoformat()})", [event.id]))
    return lines


def is_measurement(key: str, value: Any) -> bool:
    """Whether a vital_signs payload member is a measurement (the rule of migration 0014)."""
    return (
        isinstance(value, dict)
        and ("systolic" in value or "value" in value)
        and len(key) <= SIGN_KEY_CHARS
    )


def notes(events: Sequence[PatientEvent]) -> list[Line]:
    """The newest notes, documents and encounters, newest first."""
    lines = []
    for event in sorted(events, key=newest_first)[:NOTES_SHOWN]:
        p = event.payload
        body = first_present(p, ("summary", "text", "title", "reason")) or ""
        if event.event_type == "triage_note" and p.get("symptoms"):
            body = f"symptoms {', '.join(map(str, p['symptoms']))}; severity {p.get('severity')}"
        body = str(body)
        if len(body) > NOTE_CHARS:
            body = body[: NOTE_CHARS - 1] + "…"
        kind = event.event_type.replace("_", " ")
        lines.append(line(f'{event.occurred_at.date().isoformat()} {kind}: "{body}"', [event.id]))
    return lines


HEADLINE_CHARS = 280
WORKFLOW_NAMES = {"escalation": "Escalation", "care_task": "Care task", "prior_auth": "Prior auth"}


def open_items(cases: Sequence[Case], now: datetime | None) -> list[Line]:
    """Each open case: its state, when it is due and if it is overdue, its id, then what it
    is about (the client's text, cut short so that it never hides the rest)."""
    lines = []
    for case in cases:
        workflow = WORKFLOWS.get(case.workflow)
        about = workflow.headline(case.data) if workflow is not None else ""
        text = f"{WORKFLOW_NAMES.get(case.workflow, case.workflow)} {case.state}"
        due = case.columns.due_at
        if due is not None:
            text += f", due {due.astimezone(UTC).isoformat()}"
            text += ", OVERDUE" if now is not None and case.overdue(now) else ""
        text += f" (case {case.case_id}): {one_line(about, HEADLINE_CHARS)}"
        lines.append(line(text, [case.event_ids[-1]]))
    return lines


def _cites(fact: Fact) -> list[int]:
    return [fact.latest.id, *(e.id for e in fact.maybe)]


def _maybe(fact: Fact) -> str:
    """What a later name-only entry that may be about this fact said (an ambiguous name)."""
    said = []
    for event in fact.maybe:
        p = event.payload
        status = p.get("status") or p.get("clinical_status") or p.get("verification_status")
        what = f" as {status}" if status else ""
        said.append(f"later recorded by name only{what} (event {event.id}), check which entry")
    return "".join(f"; {s}" for s in said)


def _verification(payload: dict[str, Any]) -> Any:
    return payload.get("verification_status")


def _tentative(payload: dict[str, Any]) -> str:
    status = _verification(payload)
    return f" ({status})" if status in TENTATIVE else ""


def _quantity(payload: dict[str, Any]) -> str:
    unit = payload.get("unit")
    return f"{payload.get('value')}{(' ' + str(unit)) if unit else ''}"


def _trend(previous: PatientEvent, latest: PatientEvent) -> str:
    """ ", trend up|down|flat" in the latest result's unit, or why there is none."""
    before, now = previous.payload.get("value"), latest.payload.get("value")
    if not isinstance(before, NUMBER) or not isinstance(now, NUMBER):
        return ""
    if isinstance(before, bool) or isinstance(now, bool):
        return ""
    was, unit = previous.payload.get("unit"), latest.payload.get("unit")
    if was != unit:
        if not isinstance(was, str) or not isinstance(unit, str):
            return ", units differ, no trend"
        converted = convert(
            float(before),
            was,
            unit,
            loinc=_str(latest.payload.get("loinc")) or _str(previous.payload.get("loinc")),
            test=_str(latest.payload.get("test")) or _str(previous.payload.get("test")),
        )
        if converted is None:
            return ", units differ, no trend"
        before = converted
        shown = f"{converted:.4g}"
        direction = _direction(before, now)
        return f" = {shown} {unit}, trend {direction}"
    return f", trend {_direction(before, now)}"


def _direction(before: float, now: float) -> str:
    if math.isclose(before, now, rel_tol=1e-9, abs_tol=1e-12):
        return "flat"  # equal but for a conversion's rounding
    return "up" if now > before else "down"


def _abnormal(payload: dict[str, Any]) -> bool:
    if payload.get("flag") in ABNORMAL_FLAGS:
        return True
    value, bounds = payload.get("value"), payload.get("reference_range") or {}
    if not isinstance(value, NUMBER) or not isinstance(bounds, dict):
        return False
    low, high = bounds.get("low"), bounds.get("high")
    return (isinstance(low, NUMBER) and value < low) or (isinstance(high, NUMBER) and value > high)


def _coded_name(payload: dict[str, Any], default: str) -> str:
    codes = " ".join(f"{k.upper()} {payload[k]}" for k in ("rxnorm", "snomed") if payload.get(k))
    return codes or default


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
