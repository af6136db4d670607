"""The synthetic population: deterministic, valid as the API validates, and shaped like
care — conditions by age, labs that follow conditions and treatment, BH labels where they
belong, corrections and retractions that point back at earlier records."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from carelog.cli import app
from carelog.domain.clinical import check_payload
from carelog.domain.events import CorrectionCreate, PatientEventCreate, RetractionCreate
from carelog.synthetic.catalogue import CONDITIONS, DRUGS, LABS
from carelog.synthetic.population import DEFAULT_END, Patient, population

pytestmark = pytest.mark.unit

BH_CODES = {c.icd10 for c in CONDITIONS if "BH" in c.labels}
BH_DRUGS = {DRUGS[name].rxnorm for name in ("sertraline", "escitalopram")}


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return list(population(300, 11))


def _events(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events as they stand: corrected values in place of mistyped ones."""
    fixes = {r["corrects"]: r["payload"] for r in records if "corrects" in r}
    return [
        {**r, "payload": fixes.get(r["idempotency_key"], r["payload"])}
        for r in records
        if "corrects" not in r and "retracts" not in r
    ]


def test_the_same_seed_gives_the_same_population_and_patients_do_not_shift() -> None:
    assert list(population(20, 5)) == list(population(20, 5))
    assert list(population(20, 5)) != list(population(20, 6))
    # Patient 7 is the same in a population of 10 as in one of 40.
    alone = Patient(5, 7, end=DEFAULT_END, years=3).records()
    assert [r for r in population(40, 5) if r["idempotency_key"].startswith("S5-P000007-")] == alone


def test_every_record_is_valid_as_the_api_takes_it(records: list[dict[str, Any]]) -> None:
    seen: dict[str, dict[str, Any]] = {}
    for record in records:
        body = {
            k: v for k, v in record.items() if k not in ("idempotency_key", "corrects", "retracts")
        }
        if "corrects" in record:
            target = seen[record["corrects"]]
            CorrectionCreate.model_validate(body)
            check_payload(target["event_type"], record["payload"])
        elif "retracts" in record:
            assert record["retracts"] in seen
            RetractionCreate.model_validate(body)
        else:
            event = PatientEventCreate.model_validate(body)
            check_payload(event.event_type, event.payload)
            assert event.occurred_at is not None
            assert datetime(2022, 1, 1, tzinfo=UTC) < event.occurred_at < DEFAULT_END
        assert record["idempotency_key"] not in seen
        seen[record["idempotency_key"]] = record


def test_records_come_in_time_order_per_patient(records: list[dict[str, Any]]) -> None:
    last: dict[str, str] = {}
    for event in _events(records):
        patient = event["patient_id"]
        assert event["occurred_at"] >= last.get(patient, ""), event
        last[patient] = event["occurred_at"]
    assert len(last) == 300


def test_corrections_and_retractions_are_a_few_and_point_back(
    records: list[dict[str, Any]],
) -> None:
    events = _events(records)
    corrections = [r for r in records if "corrects" in r]
    retractions = [r for r in records if "retracts" in r]
    assert 0.001 < len(corrections) / len(events) < 0.02
    assert 0 < len(retractions) / len(events) < 0.005
    by_key = {r["idempotency_key"]: r for r in records}
    for correction in corrections:
        original = by_key[correction["corrects"]]
        assert original["event_type"] == "lab_result"
        assert original["payload"]["value"] == pytest.approx(correction["payload"]["value"] * 10)
        assert correction["idempotency_key"] > original["idempotency_key"]


def test_conditions_follow_age_and_labs_follow_conditions(records: list[dict[str, Any]]) -> None:
    events = _events(records)
    has: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e["event_type"] == "condition":
            has[e["patient_id"]].add(e["payload"]["icd10"])
    glucose: dict[bool, list[float]] = defaultdict(list)
    a1c: dict[bool, list[float]] = defaultdict(list)
    for e in events:
        if e["event_type"] != "lab_result":
            continue
        diabetic = "E11.9" in has[e["patient_id"]]
        if e["payload"]["loinc"] == LABS["glucose"].loinc:
            glucose[diabetic].append(e["payload"]["value"])
        elif e["payload"]["loinc"] == LABS["hba1c"].loinc:
            a1c[diabetic].append(e["payload"]["value"])
    assert statistics.mean(glucose[True]) - statistics.mean(glucose[False]) > 40
    assert 80 < statistics.mean(glucose[False]) < 115
    assert 6.5 < statistics.mean(a1c[True]) < 9.5
    assert not a1c[False]  # HbA1c is followed in diabetes only
    # Hypertension: common in the old, rare in the young.
    ages = {n: Patient(11, n, end=DEFAULT_END, years=3).age for n in range(1, 301)}
    old = [n for n, age in ages.items() if age >= 65]
    young = [n for n, age in ages.items() if age < 45]
    share = {
        group: sum("I10" in has[f"S11-P{n:06d}"] for n in members) / len(members)
        for group, members in (("old", old), ("young", young))
    }
    assert share["old"] > 2 * share["young"]


def test_treatment_lowers_hba1c_over_time() -> None:
    drops = []
    for number in range(1, 400):
        patient = Patient(3, number, end=DEFAULT_END, years=3)
        diabetes = patient.problems.get("diabetes")
        if diabetes is None or diabetes.onset < patient.start:
            continue  # only those diagnosed in the window, untreated before it
        values = [
            r["payload"]["value"]
            for r in _events(patient.records())
            if r["event_type"] == "lab_result" and r["payload"]["test"] == "Hemoglobin A1c"
        ]
        if len(values) >= 3:
            drops.append(values[0] - min(values[1:]))
    assert len(drops) >= 5
    assert statistics.median(drops) > 0.8


def test_behavioral_health_events_and_only_they_carry_bh(records: list[dict[str, Any]]) -> None:
    """Depression's condition, drugs and PHQ-9 scores, and the visits, notes and documents
    of its care (they name it, or its symptoms), are labelled BH; nothing else is."""
    depression = next(c for c in CONDITIONS if "BH" in c.labels)
    labelled = 0
    for e in _events(records):
        payload, kind = e["payload"], e["event_type"]
        is_bh = (
            payload.get("icd10") in BH_CODES
            or (kind == "medication" and payload.get("rxnorm") in BH_DRUGS)
            or payload.get("loinc") == LABS["phq9"].loinc
            or (kind == "encounter" and depression.name in payload["reason"])
            or (kind == "triage_note" and set(payload["symptoms"]) <= set(depression.symptoms))
            or (kind == "document" and depression.name in payload["text"])
        )
        assert ("BH" in e["labels"]) == is_bh, e
        labelled += is_bh
    assert labelled > 0


def test_the_command_writes_the_population_as_ndjson(tmp_path: Path) -> None:
    target = tmp_path / "population.ndjson"
    result = CliRunner().invoke(
        app, ["generate", "--patients", "4", "--seed", "9", "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == list(population(4, 9))
    assert "4 patients:" in result.output
    to_stdout = CliRunner().invoke(app, ["generate", "--patients", "1", "--seed", "9"])
    assert to_stdout.exit_code == 0
    first = json.loads(to_stdout.stdout.splitlines()[0])
    assert first["patient_id"] == "S9-P000001"
    bad = CliRunner().invoke(app, ["generate", "--end", "yesterday"])
    assert bad.exit_code == 2
