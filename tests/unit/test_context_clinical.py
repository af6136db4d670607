"""What a clinician reading the context must be able to trust (no database): trends in one
unit, one fact per drug, condition or allergen however it was recorded, each vital sign's own
latest reading, clinical time bounds, allergy statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from carelog.domain.context import PatientContext, build_context
from carelog.domain.events import PatientEvent
from tests.factories import patient_event

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def ev(event_id: int, event_type: str, payload: dict[str, Any], *, day: float = 0) -> PatientEvent:
    return patient_event(event_id, event_type, payload, occurred_at=T0 + timedelta(days=day))


def lines(context: PatientContext, name: str) -> list[tuple[str, list[int]]]:
    return [(line.text, line.cites) for s in context.sections if s.name == name for line in s.lines]


# 1. Trends across units


def test_a_rise_in_another_unit_reads_as_a_rise() -> None:
    """126 mg/dL is 7.0 mmol/L: 8.0 mmol/L after it is up, though 8 < 126."""
    context = build_context(
        "P-1",
        [
            ev(
                1,
                "lab_result",
                {"loinc": "2345-7", "test": "Glucose", "value": 126, "unit": "mg/dL"},
            ),
            ev(
                2,
                "lab_result",
                {"loinc": "2345-7", "test": "Glucose", "value": 8.0, "unit": "mmol/L"},
                day=30,
            ),
        ],
    )
    [(text, cites)] = lines(context, "labs")
    assert cites == [2, 1]
    assert "Glucose: 8.0 mmol/L" in text
    assert "previous 126 mg/dL" in text  # both values, each in its own unit
    assert "= 6.994 mmol/L" in text
    assert "trend up" in text


def test_hba1c_percent_and_ifcc_units_compare() -> None:
    context = build_context(
        "P-1",
        [
            ev(1, "lab_result", {"loinc": "4548-4", "value": 7.0, "unit": "%"}),
            ev(2, "lab_result", {"loinc": "4548-4", "value": 48, "unit": "mmol/mol"}, day=90),
        ],
    )
    [(text, _)] = lines(context, "labs")
    assert "trend down" in text  # 7.0 % is 53 mmol/mol


def test_units_that_cannot_be_compared_show_both_and_no_trend() -> None:
    for first, second in [("mg/dL", "mmol/L"), ("mg/dL", None), ("g/L", "U/L")]:
        context = build_context(
            "P-1",
            [
                ev(1, "lab_result", {"test": "Vitamin Q", "value": 3, "unit": first}),
                ev(2, "lab_result", {"test": "Vitamin Q", "value": 900, "unit": second}, day=1),
            ],
        )
        [(text, cites)] = lines(context, "labs")
        assert cites == [2, 1]
        assert "Vitamin Q: 900" in text
        assert f"previous 3 {first}" in text
        assert "units differ, no trend" in text
        assert "trend up" not in text
        assert "trend down" not in text


def test_a_named_result_joins_the_coded_series_it_names() -> None:
    """The seed's free-form {"test": "HbA1c"} beside a LOINC 4548-4 result: one series."""
    context = build_context(
        "P-1",
        [
            ev(1, "lab_result", {"test": "HbA1c", "value": 7.1, "unit": "%"}),
            ev(2, "lab_result", {"loinc": "4548-4", "value": 8.4, "unit": "%"}, day=60),
        ],
    )
    [(text, cites)] = lines(context, "labs")
    assert cites == [2, 1]
    assert "previous 7.1 %" in text
    assert "trend up" in text


def test_a_name_matching_two_coded_series_stays_apart_and_says_so() -> None:
    context = build_context(
        "P-1",
        [
            ev(1, "lab_result", {"loinc": "4548-4", "value": 8.4, "unit": "%"}),
            ev(2, "lab_result", {"loinc": "17856-6", "value": 8.1, "unit": "%"}, day=1),
            ev(3, "lab_result", {"test": "hba1c", "value": 7.0, "unit": "%"}, day=2),
        ],
    )
    found = lines(context, "labs")
    assert len(found) == 3
    named = next(text for text, cites in found if cites[0] == 3)
    assert "kept apart from the coded tests" in named


# 2. One drug, condition or allergen, coded or named


def test_a_stop_recorded_by_name_stops_the_coded_drug() -> None:
    context = build_context(
        "P-1",
        [
            ev(1, "medication", {"rxnorm": "860975", "name": "Metformin", "status": "active"}),
            ev(2, "medication", {"name": "metformin ", "status": "stopped"}, day=5),
            ev(3, "medication", {"name": "Lisinopril", "dose": "10 mg"}, day=6),
        ],
    )
    assert lines(context, "medications") == [("Lisinopril 10 mg", [3])]


def test_a_coded_restart_after_a_named_stop_is_active_again() -> None:
    context = build_context(
        "P-1",
        [
            ev(1, "medication", {"rxnorm": "860975", "name": "metformin", "status": "active"}),
            ev(2, "medication", {"name": "Metformin", "status": "stopped"}, day=5),
            ev(3, "medication", {"rxnorm": "860975", "name": "metformin"}, day=9),
        ],
    )
    assert lines(context, "medications") == [("metformin", [3])]


def test_an_ambiguous_named_stop_is_shown_on_every_drug_it_may_mean() -> None:
    context = build_context(
        "P-1",
        [
            ev(1, "medication", {"rxnorm": "860975", "name": "metformin", "dose": "500 mg"}),
            ev(2, "medication", {"rxnorm": "861007", "name": "Metformin", "dose": "1 g"}, day=1),
            ev(3, "medication", {"name": "METFORMIN", "status": "stopped"}, day=5),
        ],
    )
    found = lines(context, "medications")
    assert sorted(cites for _, cites in found) == [[1, 3], [2, 3]]
    for text, _ in found:
        assert "later recorded by name only as stopped (event 3)" in text


def test_conditions_join_by_shared_code_and_by_name() -> None:
    context = build_context(
        "P-1",
        [
            ev(1, "condition", {"icd10": "E11.9", "snomed": "44054006", "name": "T2 diabetes"}),
            ev(2, "condition", {"snomed": "44054006", "clinical_status": "resolved"}, day=3),
            ev(3, "condition", {"icd10": "I10", "name": "Hypertension"}),
            ev(4, "condition", {"name": "hypertension", "clinical_status": "inactive"}, day=3),
            ev(5, "condition", {"icd10": "J45.909", "name": "Asthma"}, day=1),
        ],
    )
    assert lines(context, "conditions") == [("Asthma (ICD10 J45.909)", [5])]


def test_allergies_join_by_code_and_name() -> None:
    context = build_context(
        "P-1",
        [
            ev(1, "allergy", {"rxnorm": "7980", "substance": "Penicillin G", "reaction": "hives"}),
            ev(
                2, "allergy", {"substance": "penicillin g", "verification_status": "refuted"}, day=2
            ),
        ],
    )
    assert lines(context, "allergies") == []


# 3. Vitals per measurement


def test_each_vital_sign_shows_its_own_latest_reading() -> None:
    context = build_context(
        "P-1",
        [
            ev(1, "vital_signs", {"blood_pressure": {"systolic": 150, "diastolic": 95}}),
            ev(
                2,
                "vital_signs",
                {
                    "blood_pressure": {"systolic": 142, "diastolic": 91},
                    "temperature": {"value": 38.4, "unit": "Cel"},
                    "pain_score": {"value": 6},
                },
                day=0.5,
            ),
            ev(3, "vital_signs", {"heart_rate": {"value": 88, "unit": "/min"}}, day=0.6),
        ],
    )
    found = lines(context, "vitals")
    assert [cites for _, cites in found] == [[2], [3], [2], [2]]  # BP, pulse, temp, pain
    bp, pulse, temperature, pain = (text for text, _ in found)
    assert bp.startswith("BP 142/91")
    assert "2026-01-01T20:00:00+00:00" in bp
    assert pulse.startswith("heart rate 88 /min")
    assert "2026-01-01T22:24:00+00:00" in pulse
    assert temperature.startswith("temperature 38.4 Cel")
    assert pain.startswith("pain score 6")


# 6. Clinical time and allergy statuses


def test_until_answers_what_was_active_on_a_day() -> None:
    events = [
        ev(1, "medication", {"rxnorm": "860975", "name": "metformin", "status": "active"}),
        ev(2, "medication", {"rxnorm": "860975", "name": "metformin", "status": "stopped"}, day=59),
        ev(3, "medication", {"name": "lisinopril"}, day=40),
    ]
    first_of_february = datetime(2026, 2, 2, tzinfo=UTC)  # until: the day after
    then = build_context("P-1", events, until=first_of_february)
    assert lines(then, "medications") == [("metformin", [1])]
    assert "Clinical events before 2026-02-02" in then.markdown()
    now = build_context("P-1", events)
    assert lines(now, "medications") == [("lisinopril", [3])]


def test_allergy_statuses() -> None:
    context = build_context(
        "P-1",
        [
            ev(1, "allergy", {"substance": "latex", "clinical_status": "resolved"}),
            ev(2, "allergy", {"substance": "peanut", "verification_status": "refuted"}),
            ev(3, "allergy", {"substance": "sulfa", "verification_status": "unconfirmed"}),
            ev(4, "allergy", {"substance": "penicillin", "criticality": "high"}, day=1),
            ev(5, "allergy", {"substance": "shellfish", "clinical_status": "inactive"}),
        ],
    )
    assert lines(context, "allergies") == [
        ("penicillin: high criticality", [4]),
        ("sulfa (unconfirmed)", [3]),
    ]
