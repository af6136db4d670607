"""A synthetic population, one patient at a time: who they are, what they have, and the
events their care leaves over the years — visits, vitals, labs that move with their
conditions and treatment, medications started, added, switched and stopped, triage notes,
allergies, a few corrected lab values and retracted entries.

Deterministic: patient ``n`` of seed ``s`` is drawn from its own generator, so it is the
same whatever the population's size, and the same on every machine. No real person is in
it: names are never made, identifiers are ``S<seed>-P<n>``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from carelog.synthetic.catalogue import (
    ACUTE,
    ALLERGENS,
    BOOSTS,
    CHRONIC,
    DRAW_ORDER,
    DRUGS,
    LABS,
    Drug,
)
from carelog.synthetic.payloads import lab_payload, poisson, stamp, vital_signs
from carelog.synthetic.physiology import RAAS, Body, Problem, Therapy

SOURCE = "synthetic"
DEFAULT_END = datetime(2026, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)


class Patient:
    """One synthetic patient and the records of their care (:meth:`records`)."""

    def __init__(self, seed: int, number: int, *, end: datetime, years: int) -> None:
        self.rng = random.Random(f"carelog-synthetic:{seed}:{number}")
        self.id = f"S{seed}-P{number:06d}"
        self.end = end
        self.start = end - timedelta(days=round(365.25 * years))
        rng = self.rng
        self.age = rng.randint(18, 90)  # at the end of the window
        self.female = rng.random() < 0.52
        self.problems: dict[str, Problem] = {}
        self._draw_conditions()
        self.body = Body.of(self.rng, self.problems, self.start, age=self.age, female=self.female)
        self._lines: list[tuple[datetime, int, dict[str, Any]]] = []
        self._count = 0

    # -- who they are -----------------------------------------------------------------

    def _bucket(self) -> int:
        return 0 if self.age < 45 else 1 if self.age < 65 else 2

    def _draw_conditions(self) -> None:
        rng, span = self.rng, (self.end - self.start).days
        boost: dict[str, float] = {}
        for key in DRAW_ORDER:
            chronic = CHRONIC[key]
            if rng.random() >= chronic.prevalence[self._bucket()] * boost.get(key, 1.0):
                continue
            # Most are known before the window opens; the rest are diagnosed within it.
            if rng.random() < 0.6:
                onset = self.start - timedelta(days=rng.randint(60, 3650))
            else:
                onset = self.start + timedelta(days=rng.randint(30, max(31, span - 30)))
            self.problems[key] = Problem(chronic, onset)
            for other, factor in BOOSTS.get(key, {}).items():
                boost[other] = boost.get(other, 1.0) * factor

    # -- what the records hold --------------------------------------------------------

    def _emit(self, when: datetime, line: dict[str, Any]) -> str:
        self._count += 1
        key = f"{self.id}-{self._count:05d}"
        self._lines.append((when, self._count, {"idempotency_key": key, **line}))
        return key

    def _event(
        self, when: datetime, event_type: str, payload: dict[str, Any], labels: tuple[str, ...]
    ) -> str:
        return self._emit(
            when,
            {
                "patient_id": self.id,
                "event_type": event_type,
                "occurred_at": stamp(when),
                "payload": payload,
                "source": SOURCE,
                "labels": list(labels),
            },
        )

    def records(self) -> list[dict[str, Any]]:
        """Every record of the patient, in the order they were made: events, and the
        corrections and retractions that name an earlier one by its idempotency key."""
        return [line for _, line in self.timed_records()]

    def timed_records(self) -> list[tuple[datetime, dict[str, Any]]]:
        """:meth:`records` with the time each was made (a correction's is not in its body)."""
        if not self._lines:
            self._tell()
        return [(when, line) for when, _, line in sorted(self._lines, key=lambda item: item[:2])]

    def _tell(self) -> None:
        rng = self.rng
        first = self.start + timedelta(days=rng.randint(0, 120), hours=rng.randint(13, 21))
        visits: list[tuple[datetime, str, Problem | None]] = []
        year = first
        while year < self.end:
            visits.append((year, "wellness", None))
            year += timedelta(days=rng.randint(330, 400))
        for problem in self.problems.values():
            every = problem.chronic.follow_up_months * 30
            when = max(problem.onset, first) + timedelta(days=every)
            while when < self.end:
                visits.append((when + timedelta(hours=rng.randint(13, 21)), "follow-up", problem))
                when += timedelta(days=every + rng.randint(-21, 21))
            if problem.onset > first:
                visits.append((problem.onset, "diagnosis", problem))
        for _ in range(poisson(rng, 0.4 * (self.end - self.start).days / 365)):
            visits.append((self._some_day(), "acute", None))
        if "asthma" in self.problems:
            for _ in range(poisson(rng, 0.6 * (self.end - self.start).days / 365)):
                visits.append((self._some_day(), "exacerbation", self.problems["asthma"]))
        self._history(first)
        for when, kind, about in sorted(visits, key=lambda v: (v[0], v[1])):
            if when >= self.end:
                continue
            if kind == "wellness":
                self._wellness(when)
            elif kind == "acute":
                self._acute(when)
            elif about is not None and kind == "exacerbation":
                self._exacerbation(when)
            elif about is not None and kind == "diagnosis":
                self._diagnose(when, about)
            elif about is not None:
                self._follow_up(when, about)

    def _some_day(self) -> datetime:
        days = self.rng.randint(0, (self.end - self.start).days - 1)
        return self.start + timedelta(days=days, hours=self.rng.randint(13, 21))

    def _history(self, when: datetime) -> None:
        """What the first visit records as already known: conditions, drugs, allergies."""
        for problem in self.problems.values():
            if problem.onset <= when:
                self._condition(when, problem, "active")
                self._start(when, problem, problem.chronic.first, since=problem.onset)
        for allergen in ALLERGENS:
            if self.rng.random() < allergen.share:
                payload: dict[str, Any] = {
                    "substance": allergen.substance,
                    allergen.code_system: allergen.code,
                    "reaction": allergen.reaction,
                    "severity": "severe" if allergen.reaction == "anaphylaxis" else "moderate",
                    "clinical_status": "active",
                    "verification_status": "confirmed",
                    "criticality": "high" if allergen.reaction == "anaphylaxis" else "low",
                }
                self._event(when, "allergy", payload, ())

    def _condition(self, when: datetime, problem: Problem, status: str) -> None:
        chronic = problem.chronic
        payload = {
            "icd10": chronic.icd10,
            "snomed": chronic.snomed,
            "name": chronic.name,
            "clinical_status": status,
            "verification_status": "confirmed",
        }
        self._event(when, "condition", payload, chronic.labels)

    def _start(
        self, when: datetime, problem: Problem, drug: str, *, since: datetime | None = None
    ) -> None:
        if drug in RAAS and any(d in RAAS for p in self.problems.values() for d in p.taking(when)):
            return  # one ACE inhibitor or ARB at a time: never both
        problem.therapies.append(Therapy(drug, since or when))
        self._medication(when, DRUGS[drug], "active", problem)

    def _stop(self, when: datetime, problem: Problem, drug: str, why: str) -> None:
        for therapy in problem.therapies:
            if therapy.drug == drug and therapy.stop is None:
                therapy.stop = when
        self._medication(when, DRUGS[drug], "stopped", problem, reason=why)

    def _medication(
        self, when: datetime, drug: Drug, status: str, problem: Problem, *, reason: str = ""
    ) -> None:
        payload: dict[str, Any] = {
            "rxnorm": drug.rxnorm,
            "name": drug.name,
            "dose": drug.dose,
            "route": drug.route,
            "frequency": drug.frequency,
            "status": status,
            "indication": problem.chronic.name,
        }
        if reason:
            payload["reason_stopped"] = reason
        self._event(when, "medication", payload, problem.chronic.labels)

    def _encounter(self, when: datetime, kind: str, reason: str, labels: tuple[str, ...]) -> None:
        minutes = self.rng.choice((15, 20, 30, 40))
        payload = {
            "type": kind,
            "reason": reason,
            "start": stamp(when),
            "end": stamp(when + timedelta(minutes=minutes)),
        }
        self._event(when, "encounter", payload, labels)

    # -- visits -----------------------------------------------------------------------

    def _wellness(self, when: datetime) -> None:
        self._encounter(when, "office visit", "annual wellness visit", ())
        self._vitals(when, full=True)
        watched = {"glucose", "creatinine", "sodium", "potassium", "hemoglobin", "ldl"}
        watched.add("cholesterol")
        for problem in self.problems.values():
            if problem.onset <= when and not problem.chronic.labels:
                watched.update(problem.chronic.watch)
        for lab in sorted(watched):
            self._lab(when + timedelta(hours=1), lab)
        if self.rng.random() < 0.3:
            known = [p.chronic for p in self.problems.values() if p.onset <= when]
            names = sorted(c.name for c in known)
            text = "Annual visit. " + (
                f"Known conditions: {', '.join(names)}." if names else "No chronic problems."
            )
            payload = {"title": "Visit summary", "content_type": "text/plain", "text": text}
            # A note that names a sensitive condition is as sensitive as the condition.
            labels = tuple(sorted({label for c in known for label in c.labels}))
            self._event(when + timedelta(hours=2), "document", payload, labels)

    def _diagnose(self, when: datetime, problem: Problem) -> None:
        labels = problem.chronic.labels
        self._encounter(when, "office visit", problem.chronic.name, labels)
        if problem.chronic.symptoms:
            symptoms = self.rng.sample(
                problem.chronic.symptoms, k=min(2, len(problem.chronic.symptoms))
            )
            note = {
                "symptoms": symptoms,
                "severity": "moderate",
                "text": f"Reports {' and '.join(symptoms)} for several weeks.",
                "disposition": "clinic visit",
            }
            self._event(when, "triage_note", note, labels)
        self._vitals(when, full=False)
        for lab in problem.chronic.watch:
            self._lab(when + timedelta(hours=1), lab)
        self._condition(when + timedelta(hours=2), problem, "active")
        self._start(when + timedelta(hours=2), problem, problem.chronic.first)

    def _follow_up(self, when: datetime, problem: Problem) -> None:
        chronic, rng = problem.chronic, self.rng
        self._encounter(when, "office visit", f"follow-up: {chronic.name}", chronic.labels)
        self._vitals(when, full=False)
        values = {lab: self._lab(when + timedelta(hours=1), lab) for lab in chronic.watch}
        later = when + timedelta(hours=2)
        taking = problem.taking(when)
        months_on = (when - problem.onset).days / 30
        if problem.remission_since is not None:
            if values.get("phq9", 0) >= 10:
                # A relapse: recorded, and treated again.
                problem.remission_since = None
                self._condition(later, problem, "relapse")
                if not taking:
                    self._start(later, problem, chronic.second or chronic.first)
            elif taking and (when - problem.remission_since).days >= 180:
                # Six months well: the course ends; half stay well without it.
                problem.stays_well = rng.random() < 0.5
                self._stop(later, problem, taking[0], "completed course in remission")
            return
        if chronic.key == "hypertension" and "lisinopril" in taking and rng.random() < 0.08:
            # The ACE inhibitor cough: switch to an angiotensin receptor blocker.
            self._stop(later, problem, "lisinopril", "dry cough")
            self._start(later, problem, "losartan")
            return
        if chronic.key == "diabetes" and "metformin" in taking and rng.random() < 0.04:
            self._stop(later, problem, "metformin", "gastrointestinal upset")
            self._start(later, problem, "empagliflozin")
            return
        missed = self._missed_target(chronic.key, values, when)
        second = chronic.second
        if missed and second is not None and second not in taking and months_on >= 3:
            self._start(later, problem, second)
        elif (
            chronic.key == "diabetes"
            and missed
            and months_on >= 12
            and "insulin_glargine" not in taking
            and values.get("hba1c", 0) > 9.0
        ):
            self._start(later, problem, "insulin_glargine")
        if chronic.key == "depression" and values.get("phq9", 99) < 5 and months_on >= 9:
            problem.remission_since = when
            self._condition(later, problem, "remission")

    def _missed_target(self, key: str, values: dict[str, float], when: datetime) -> bool:
        if key == "diabetes":
            return values.get("hba1c", 0.0) > 7.0
        if key == "hypertension":
            return self.body.systolic(when) > 135
        if key == "depression":
            return values.get("phq9", 0.0) >= 10
        if key == "asthma":
            return self.rng.random() < 0.3
        return False

    def _acute(self, when: datetime) -> None:
        reason, symptoms, severity, disposition = self.rng.choice(ACUTE)
        self._encounter(when, "urgent care", reason, ())
        note = {
            "symptoms": list(symptoms),
            "severity": severity,
            "text": f"Presents with {', '.join(symptoms)}.",
            "disposition": disposition,
        }
        self._event(when, "triage_note", note, ())
        self._vitals(when, full=False, fever="fever" in symptoms)

    def _exacerbation(self, when: datetime) -> None:
        problem = self.problems["asthma"]
        self._encounter(when, "urgent care", "asthma exacerbation", ())
        symptoms = self.rng.sample(problem.chronic.symptoms, k=2)
        severe = self.rng.random() < 0.15
        note = {
            "symptoms": symptoms,
            "severity": "severe" if severe else "moderate",
            "text": f"Asthma flare: {', '.join(symptoms)}; used rescue inhaler.",
            "disposition": "escalate to clinician" if severe else "clinic visit",
        }
        self._event(when, "triage_note", note, ())
        self._vitals(when, full=False, flare=True)
        if "fluticasone" not in problem.taking(when) and self.rng.random() < 0.5:
            self._start(when + timedelta(hours=1), problem, "fluticasone")

    # -- measurements -----------------------------------------------------------------

    def _lab(self, when: datetime, key: str) -> float:
        """Record one lab result (sometimes mistyped, then corrected); its true value."""
        lab = LABS[key]
        value = round(self.body.reading(key, when), lab.decimals)
        labels = CHRONIC["depression"].labels if key == "phq9" else ()
        # A decimal point put in the wrong place, found and corrected a day or three later.
        wrong = lab.decimals > 0 and self.rng.random() < 0.02
        shown = round(value * 10, lab.decimals) if wrong else value
        event = self._event(when, "lab_result", lab_payload(key, shown), labels)
        if wrong:
            fixed = when + timedelta(days=self.rng.randint(1, 3))
            self._emit(
                fixed,
                {
                    "corrects": event,
                    "payload": lab_payload(key, value),
                    "reason": "transcription error: decimal point misplaced",
                },
            )
        return value

    def _vitals(
        self, when: datetime, *, full: bool, fever: bool = False, flare: bool = False
    ) -> None:
        rng = self.rng
        payload = vital_signs(rng, self.body, when, full=full, fever=fever, flare=flare)
        event = self._event(when, "vital_signs", payload, ())
        if rng.random() < 0.003:
            self._emit(
                when + timedelta(days=rng.randint(1, 10)),
                {"retracts": event, "reason": "entered in the wrong patient's record"},
            )


def cohort(
    patients: int, seed: int, *, end: datetime = DEFAULT_END, years: int = 3
) -> Iterator[Patient]:
    """Synthetic patients 1 to ``patients`` of ``seed``."""
    for number in range(1, patients + 1):
        yield Patient(seed, number, end=end, years=years)


def population(
    patients: int, seed: int, *, end: datetime = DEFAULT_END, years: int = 3
) -> Iterator[dict[str, Any]]:
    """Every record of ``patients`` synthetic patients, patient after patient."""
    for patient in cohort(patients, seed, end=end, years=years):
        yield from patient.records()
