"""The context builder on hand-made event sets: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from carelog.domain.context import build_context, current_events
from carelog.domain.events import PatientEvent
from tests.factories import patient_event

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ev(
    event_id: int,
    event_type: str,
    payload: dict[str, Any],
    *,
    day: int = 0,
    recorded_day: int | None = None,
    supersedes: int | None = None,
    status: str = "final",
    labels: list[str] | None = None,
) -> PatientEvent:
    return patient_event(
        event_id,
        event_type,
        payload,
        occurred_at=T0 + timedelta(days=day),
        recorded_at=T0 + timedelta(days=day if recorded_day is None else recorded_day),
        supersedes=supersedes,
        status=status,
        labels=labels or (),
    )


EVENTS = [
    ev(1, "allergy", {"substance": "penicillin", "reaction": "rash", "severity": "severe"}),
    ev(2, "condition", {"icd10": "E11.9", "name": "Type 2 diabetes", "clinical_status": "active"}),
    ev(
        3,
        "condition",
        {"icd10": "J20.9", "name": "Acute bronchitis", "clinical_status": "resolved"},
    ),
    ev(4, "medication", {"rxnorm": "860975", "name": "metformin", "dose": "500 mg"}, day=1),
    ev(5, "medication", {"name": "amoxicillin", "status": "stopped"}, day=2),
    ev(6, "lab_result", {"loinc": "4548-4", "test": "HbA1c", "value": 9.1, "unit": "%"}, day=3),
    ev(
        7,
        "lab_result",
        {"loinc": "4548-4", "test": "HbA1c", "value": 8.4, "unit": "%", "flag": "high"},
        day=10,
    ),
    ev(
        8,
        "vital_signs",
        {
            "blood_pressure": {"systolic": 142, "diastolic": 91},
            "heart_rate": {"value": 88, "unit": "/min"},
        },
        day=10,
    ),
    ev(9, "triage_note", {"symptoms": ["fever", "cough"], "severity": "moderate"}, day=11),
]


def _section(context: Any, name: str) -> list[Any]:
    return next(s.lines for s in context.sections if s.name == name)


def test_sections_and_citations() -> None:
    context = build_context("P-1", EVENTS)
    assert [line.text for line in _section(context, "allergies")] == ["penicillin: rash, severe"]
    assert [(line.text, line.cites) for line in _section(context, "conditions")] == [
        ("Type 2 diabetes (ICD10 E11.9)", [2])
    ]
    assert [line.cites for line in _section(context, "medications")] == [[4]]
    [lab] = _section(context, "labs")
    assert lab.cites == [7, 6]
    assert "HbA1c: 8.4 %" in lab.text
    assert "ABNORMAL high" in lab.text
    assert "previous 9.1" in lab.text
    assert "trend down" in lab.text
    bp, pulse = _section(context, "vitals")
    assert "BP 142/91" in bp.text
    assert "heart rate 88 /min" in pulse.text
    assert bp.cites == pulse.cites == [8]
    [note] = _section(context, "notes")
    assert "fever, cough" in note.text
    markdown = context.markdown()
    assert "## Allergies" in markdown
    assert "[events 7, 6]" in markdown


def test_corrections_and_retractions() -> None:
    events = [
        *EVENTS,
        ev(
            10,
            "lab_result",
            {"loinc": "4548-4", "test": "HbA1c", "value": 7.9, "unit": "%"},
            day=10,
            recorded_day=12,
            supersedes=7,
            status="amended",
        ),
        ev(11, "allergy", {}, recorded_day=12, supersedes=1, status="entered-in-error"),
    ]
    standing = {e.id for e in current_events(events)}
    assert 7 not in standing
    assert 1 not in standing
    assert 11 not in standing
    context = build_context("P-1", events)
    [lab] = _section(context, "labs")
    assert lab.cites == [10, 6]
    assert "7.9" in lab.text
    assert _section(context, "allergies") == []


def test_as_of_shows_what_the_record_said() -> None:
    events = [
        *EVENTS,
        ev(
            10,
            "lab_result",
            {"loinc": "4548-4", "test": "HbA1c", "value": 7.9},
            day=10,
            recorded_day=12,
            supersedes=7,
            status="amended",
        ),
    ]
    then = build_context("P-1", events, as_of=T0 + timedelta(days=11))
    [lab] = _section(then, "labs")
    assert lab.cites == [7, 6]
    early = build_context("P-1", events, as_of=T0 + timedelta(days=2))
    assert _section(early, "labs") == []


def test_sensitive_events_are_withheld_and_counted() -> None:
    events = [*EVENTS, ev(12, "condition", {"name": "opioid use disorder"}, labels=["ETH"])]
    hidden = build_context("P-1", events, visible_labels=frozenset())
    assert hidden.withheld == 1
    assert "opioid" not in hidden.markdown()
    assert "1 sensitive event(s) withheld" in hidden.markdown()
    shown = build_context("P-1", events, visible_labels=frozenset({"ETH"}))
    assert "opioid" in shown.markdown()


def test_budget_drops_lowest_priority_sections_first() -> None:
    full = build_context("P-1", EVENTS)
    cut = build_context("P-1", EVENTS, max_tokens=full.estimated_tokens - 1)
    assert cut.omitted == ["notes"]
    assert cut.estimated_tokens <= full.estimated_tokens - 1
    tiny = build_context("P-1", EVENTS, max_tokens=60)
    assert tiny.omitted[-1] == "notes"
    assert tiny.estimated_tokens <= 60 or not tiny.sections
    assert [s.name for s in tiny.sections] == [
        "allergies",
        "open_items",
        "conditions",
        "medications",
        "labs",
        "vitals",
        "notes",
    ][: len(tiny.sections)]


def test_filters_and_determinism() -> None:
    recent = build_context("P-1", EVENTS, since=T0 + timedelta(days=5))
    assert _section(recent, "allergies") == []
    labs_only = build_context("P-1", EVENTS, types=frozenset({"lab_result"}))
    assert _section(labs_only, "conditions") == []
    assert build_context("P-1", list(reversed(EVENTS))) == build_context("P-1", EVENTS)
