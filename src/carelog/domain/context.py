"""The context an agent reads before it acts: a pure function of events, policy and budget.

No I/O here: fetching events and auditing the read sit around it. Given a patient's events
(every version), it keeps what the record said at ``as_of`` (by recorded time), drops
superseded versions and retractions, withholds what the reader may not see, and summarises:
allergies, active conditions, active medications, each lab test's latest value with the
previous one and the trend, the latest vitals, and recent notes. Every line cites the event
ids it came from. With a token budget, whole sections are dropped lowest priority first and
named in ``omitted``. Tokens are estimated at four characters each (no model involved).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from carelog.domain.events import PatientEvent

# Highest priority first: the budget drops from the end of this list.
SECTIONS = ("allergies", "conditions", "medications", "labs", "vitals", "notes")
ABNORMAL_FLAGS = {"high", "low", "abnormal", "critical", "H", "L", "A", "HH", "LL"}
INACTIVE_CONDITIONS = {"inactive", "remission", "resolved"}
NOTE_TYPES = {"triage_note", "document", "encounter"}
NOTE_CHARS = 280
RETRACTED = "entered-in-error"
NUMBER = (int, float)


class Line(BaseModel):
    """One statement of the context and the events it rests on."""

    text: str
    cites: list[int]


class Section(BaseModel):
    """A titled list of lines."""

    name: str
    title: str
    lines: list[Line]


class PatientContext(BaseModel):
    """The context of one patient, as JSON; :meth:`markdown` renders it for a prompt."""

    patient_id: str
    as_of: datetime | None = None
    sections: list[Section]
    omitted: list[str] = Field(default_factory=list, description="Sections cut for the budget")
    withheld: int = Field(default=0, description="Events left out for their sensitivity labels")
    estimated_tokens: int = 0

    def cited(self) -> list[int]:
        """The ids of every event a line cites, ascending."""
        return sorted(
            {c for section in self.sections for line in section.lines for c in line.cites}
        )

    def markdown(self) -> str:
        """The context as Markdown, ready to paste into a prompt."""
        out = [f"# Patient {self.patient_id}"]
        if self.as_of is not None:
            # Fixed width (microseconds always shown): the token estimate, and so what a
            # budget keeps, must not depend on the time a context is pinned to.
            out.append(f"_As recorded at {self.as_of.isoformat(timespec='microseconds')}._")
        for section in self.sections:
            out.append(f"\n## {section.title}")
            if not section.lines:
                out.append("- none recorded")
            for line in section.lines:
                cites = ", ".join(str(c) for c in line.cites)
                out.append(f"- {line.text} [events {cites}]")
        if self.omitted:
            out.append(f"\n_Left out for length: {', '.join(self.omitted)}._")
        if self.withheld:
            out.append(f"\n_{self.withheld} sensitive event(s) withheld._")
        return "\n".join(out) + "\n"


def current_events(
    events: Iterable[PatientEvent], *, as_of: datetime | None = None
) -> list[PatientEvent]:
    """The versions that stand: recorded by ``as_of``, not superseded, not retractions."""
    seen = [e for e in events if as_of is None or e.created_at <= as_of]
    superseded = {e.supersedes for e in seen if e.supersedes is not None}
    return [e for e in seen if e.id not in superseded and e.status != RETRACTED]


def build_context(
    patient_id: str,
    events: Iterable[PatientEvent],
    *,
    as_of: datetime | None = None,
    visible_labels: frozenset[str] | None = None,
    since: datetime | None = None,
    types: frozenset[str] | None = None,
    max_tokens: int | None = None,
) -> PatientContext:
    """Summarise a patient's events (see the module docstring); deterministic."""
    standing = current_events(events, as_of=as_of)
    withheld = 0
    if visible_labels is not None:
        kept = [e for e in standing if set(e.labels) <= visible_labels]
        withheld = len(standing) - len(kept)
        standing = kept
    if since is not None:
        standing = [e for e in standing if e.occurred_at >= since]
    if types is not None:
        standing = [e for e in standing if e.event_type in types]
    standing.sort(key=_oldest_first)
    of_type: dict[str, list[PatientEvent]] = {}
    for event in standing:
        of_type.setdefault(event.event_type, []).append(event)
    notes = [e for e in standing if e.event_type in NOTE_TYPES]
    sections = [
        Section(name="allergies", title="Allergies", lines=_allergies(of_type.get("allergy"))),
        Section(
            name="conditions",
            title="Active conditions",
            lines=_conditions(of_type.get("condition")),
        ),
        Section(
            name="medications",
            title="Active medications",
            lines=_medications(of_type.get("medication")),
        ),
        Section(
            name="labs",
            title="Labs (latest, previous, trend)",
            lines=_labs(of_type.get("lab_result")),
        ),
        Section(name="vitals", title="Latest vitals", lines=_vitals(of_type.get("vital_signs"))),
        Section(name="notes", title="Recent notes", lines=_notes(notes)),
    ]
    context = PatientContext(
        patient_id=patient_id, as_of=as_of, sections=sections, withheld=withheld
    )
    while max_tokens is not None and _tokens(context) > max_tokens and context.sections:
        dropped = context.sections.pop()
        context.omitted.insert(0, dropped.name)
    context.estimated_tokens = _tokens(context)
    return context


def _tokens(context: PatientContext) -> int:
    return math.ceil(len(context.markdown()) / 4)


FACT_KEYS = ("loinc", "icd10", "snomed", "rxnorm", "substance", "test", "name")


def fact_key(event: PatientEvent) -> str:
    """What a coded event is about (its code, allergen, test or name, lower-cased; ``#<id>``
    when it names none): the rule of the stored ``fact_key`` column (migration 0012) that the
    database uses to pick a context's candidates. Values that are not strings are taken as
    their JSON text, as PostgreSQL's ``->>`` does."""
    value = _first(event.payload, FACT_KEYS)
    if value is None:
        return f"#{event.id}"
    return (value if isinstance(value, str) else json.dumps(value)).lower()


def _latest_by_fact(events: list[PatientEvent] | None) -> list[PatientEvent]:
    """The latest of ``events`` (oldest first, one kind) for each fact, most recently occurred
    first (an order that depends only on those latest events, not on the history before)."""
    latest: dict[str, PatientEvent] = {}
    for event in events or ():  # oldest first: later ones win
        latest[fact_key(event)] = event
    return sorted(latest.values(), key=_newest_first)


def _oldest_first(event: PatientEvent) -> tuple[float, int]:
    # A float per event: comparing aware datetimes would ask both for their offsets each time.
    return (event.occurred_at.timestamp(), event.id)


def _newest_first(event: PatientEvent) -> tuple[float, int]:
    return (-event.occurred_at.timestamp(), -event.id)


def _first(payload: dict[str, Any], keys: Sequence[str]) -> Any:
    return next((payload[k] for k in keys if payload.get(k) not in (None, "")), None)


def _allergies(events: list[PatientEvent] | None) -> list[Line]:
    lines = []
    for event in _latest_by_fact(events):
        p = event.payload
        detail = ", ".join(str(p[k]) for k in ("reaction", "severity") if p.get(k))
        text = f"{p.get('substance', 'unnamed substance')}" + (f": {detail}" if detail else "")
        lines.append(Line(text=text, cites=[event.id]))
    return lines


def _conditions(events: list[PatientEvent] | None) -> list[Line]:
    lines = []
    for event in _latest_by_fact(events):
        p = event.payload
        if p.get("clinical_status") in INACTIVE_CONDITIONS:
            continue
        codes = " ".join(f"{k.upper()} {p[k]}" for k in ("icd10", "snomed") if p.get(k))
        name = p.get("name") or codes or "unnamed condition"
        lines.append(
            Line(
                text=f"{name}" + (f" ({codes})" if codes and p.get("name") else ""),
                cites=[event.id],
            )
        )
    return lines


def _medications(events: list[PatientEvent] | None) -> list[Line]:
    lines = []
    for event in _latest_by_fact(events):
        p = event.payload
        if p.get("status") not in (None, "active", "intended"):
            continue
        detail = " ".join(str(p[k]) for k in ("dose", "route", "frequency") if p.get(k))
        name = p.get("name") or f"RxNorm {p.get('rxnorm')}"
        lines.append(Line(text=name + (f" {detail}" if detail else ""), cites=[event.id]))
    return lines


def _abnormal(payload: dict[str, Any]) -> bool:
    if payload.get("flag") in ABNORMAL_FLAGS:
        return True
    value, bounds = payload.get("value"), payload.get("reference_range") or {}
    if not isinstance(value, NUMBER) or not isinstance(bounds, dict):
        return False
    low, high = bounds.get("low"), bounds.get("high")
    return (isinstance(low, NUMBER) and value < low) or (isinstance(high, NUMBER) and value > high)


def _labs(events: list[PatientEvent] | None) -> list[Line]:
    series: dict[str, list[PatientEvent]] = {}
    for event in events or ():
        series.setdefault(fact_key(event), []).append(event)
    lines = []
    for results in sorted(series.values(), key=lambda r: _newest_first(r[-1])):
        latest = results[-1]
        p = latest.payload
        name = p.get("test") or f"LOINC {p.get('loinc')}"
        text = f"{name}: {p.get('value')}{(' ' + str(p['unit'])) if p.get('unit') else ''}"
        text += f" ({latest.occurred_at.date().isoformat()})"
        if _abnormal(p):
            text += f" ABNORMAL{(' ' + str(p['flag'])) if p.get('flag') else ''}"
        cites = [latest.id]
        if len(results) > 1:
            previous = results[-2]
            before, now = previous.payload.get("value"), p.get("value")
            text += f"; previous {before} ({previous.occurred_at.date().isoformat()})"
            if isinstance(before, NUMBER) and isinstance(now, NUMBER):
                text += ", trend " + ("up" if now > before else "down" if now < before else "flat")
            cites.append(previous.id)
        lines.append(Line(text=text, cites=cites))
    return lines


def _vitals(vitals: list[PatientEvent] | None) -> list[Line]:
    if not vitals:
        return []
    latest = vitals[-1]
    parts = []
    for key, value in latest.payload.items():
        if isinstance(value, dict) and "systolic" in value:
            parts.append(f"BP {value.get('systolic')}/{value.get('diastolic')}")
        elif isinstance(value, dict) and "value" in value:
            parts.append(f"{key.replace('_', ' ')} {value['value']}{value.get('unit') or ''}")
    text = ", ".join(parts) or "recorded"
    return [Line(text=f"{text} ({latest.occurred_at.isoformat()})", cites=[latest.id])]


def _notes(notes: list[PatientEvent]) -> list[Line]:
    lines = []
    for event in reversed(notes[-10:]):
        p = event.payload
        body = _first(p, ["summary", "text", "title", "reason"]) or ""
        if event.event_type == "triage_note" and p.get("symptoms"):
            body = f"symptoms {', '.join(map(str, p['symptoms']))}; severity {p.get('severity')}"
        body = str(body)
        if len(body) > NOTE_CHARS:
            body = body[: NOTE_CHARS - 1] + "…"
        text = f"{event.occurred_at.date().isoformat()} {event.event_type}: {body}"
        lines.append(Line(text=text, cites=[event.id]))
    return lines
