"""A synthetic patient's body and care: the chronic problems and their treatment, the
baselines drawn once, and what a lab or a vital sign reads at a given time, moved by the
conditions, their course and the drugs (see ``population`` for the records of it)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from carelog.synthetic.catalogue import Chronic

# Drugs that block the renin-angiotensin system (an ACE inhibitor, an ARB): not combined.
RAAS = frozenset({"lisinopril", "losartan"})


@dataclass(slots=True)
class Therapy:
    """A drug a patient takes for a condition, from ``start`` until ``stop`` (if ever)."""

    drug: str
    start: datetime
    stop: datetime | None = None


@dataclass(slots=True)
class Problem:
    """One chronic condition of one patient: since when, and how it is treated."""

    chronic: Chronic
    onset: datetime  # diagnosed (before the window: already known at the first visit)
    therapies: list[Therapy] = field(default_factory=list)
    remission_since: datetime | None = None
    stays_well: bool = False  # after a course that ended in remission

    def on(self, drug: str, when: datetime) -> float:
        """How far ``drug`` has taken effect at ``when``: 0 before it, 1 after ~3 months."""
        for therapy in self.therapies:
            if therapy.drug == drug and therapy.start <= when:
                if therapy.stop is not None and therapy.stop <= when:
                    return 0.0
                return min(1.0, (when - therapy.start).days / 90)
        return 0.0

    def taking(self, when: datetime) -> list[str]:
        return [
            t.drug for t in self.therapies if t.start <= when and (t.stop is None or t.stop > when)
        ]


@dataclass(slots=True)
class Physiology:
    """A patient's own baselines, drawn once: what their labs and signs are without the
    conditions and treatment that move them."""

    a1c: float
    systolic: float
    ldl: float
    egfr: float
    egfr_decline: float  # per year
    potassium: float
    sodium: float
    hemoglobin: float
    uacr: float
    phq9: float
    weight: float
    height: float
    heart_rate: float


@dataclass(slots=True)
class Body:
    """A patient's physiology over time: their baselines under their problems. Readings
    draw their noise from the patient's own generator, in the order they are asked for."""

    baseline: Physiology
    problems: dict[str, Problem]
    rng: random.Random
    start: datetime  # of the window: the drift of a lab counts from here
    female: bool

    @classmethod
    def of(
        cls,
        rng: random.Random,
        problems: dict[str, Problem],
        start: datetime,
        *,
        age: int,
        female: bool,
    ) -> Body:
        """The body of a patient with ``problems``, its baselines drawn from ``rng``."""
        has = problems
        egfr = min(120.0, 105 - 0.7 * max(0, age - 30) + rng.gauss(0, 8))
        baseline = Physiology(
            a1c=rng.uniform(7.6, 10.2) if "diabetes" in has else rng.uniform(4.8, 5.6),
            systolic=rng.uniform(142, 166) if "hypertension" in has else rng.gauss(121, 7),
            ldl=rng.uniform(150, 195) if "hyperlipidemia" in has else rng.gauss(112, 18),
            egfr=rng.uniform(33, 58) if "ckd" in has else max(62.0, egfr),
            egfr_decline=rng.uniform(1.5, 4.0) if "ckd" in has else rng.uniform(0.0, 1.0),
            potassium=rng.gauss(4.3, 0.25) + (0.3 if "ckd" in has else 0.0),
            sodium=rng.gauss(140, 1.8),
            hemoglobin=rng.gauss(13.6 if female else 15.1, 0.9) - (1.2 if "ckd" in has else 0.0),
            uacr=rng.uniform(40, 300)
            if "ckd" in has
            else rng.uniform(20, 120)
            if "diabetes" in has
            else rng.uniform(4, 25),
            phq9=rng.uniform(12, 21) if "depression" in has else rng.uniform(0, 4),
            weight=rng.gauss(86 if not female else 76, 14) + (9 if "diabetes" in has else 0),
            height=rng.gauss(163 if female else 177, 7),
            heart_rate=rng.gauss(73, 7),
        )
        return cls(baseline, problems, rng, start, female)

    def systolic(self, when: datetime) -> float:
        """The systolic pressure at ``when``, before the noise of one reading: the baseline,
        less what antihypertensives (and, in CKD, an ARB) have taken off by then."""
        base = self.baseline.systolic
        problem = self.problems.get("hypertension")
        if problem is not None and problem.onset <= when:
            base -= 12 * max(problem.on("lisinopril", when), problem.on("losartan", when))
            base -= 8 * problem.on("amlodipine", when)
        ckd = self.problems.get("ckd")
        if ckd is not None:
            base -= 6 * ckd.on("losartan", when)
        return base

    def reading(self, lab: str, when: datetime) -> float:
        """What lab ``lab`` (a key of ``catalogue.LABS``) reads at ``when``: the baseline
        moved by the conditions, their drift and the treatment, with one test's noise."""
        rng, body, has = self.rng, self.baseline, self.problems
        years = (when - self.start).days / 365.25
        if lab in ("hba1c", "glucose"):
            a1c = body.a1c
            dm = has.get("diabetes")
            if dm is not None:
                a1c += 0.15 * years
                a1c -= 1.1 * max(dm.on("metformin", when), 0.9 * dm.on("empagliflozin", when))
                a1c -= 0.7 * dm.on("empagliflozin", when) * (dm.on("metformin", when) > 0)
                a1c -= 1.5 * dm.on("insulin_glargine", when)
            a1c = max(4.5, a1c + rng.gauss(0, 0.2))
            return a1c if lab == "hba1c" else max(60.0, 28.7 * a1c - 46.7 + rng.gauss(0, 14))
        if lab in ("egfr", "creatinine"):
            blocked = any(p.on(d, when) > 0 for p in has.values() for d in RAAS)
            slowing = 0.5 if "ckd" in has and blocked else 1.0
            egfr = max(8.0, body.egfr - body.egfr_decline * slowing * years + rng.gauss(0, 2.5))
            if lab == "egfr":
                return egfr
            return (0.8 if self.female else 1.0) * 0.95 * float((95 / egfr) ** (1 / 1.15))
        if lab in ("ldl", "cholesterol"):
            hld = has.get("hyperlipidemia")
            ldl = body.ldl * (1 - 0.42 * (hld.on("atorvastatin", when) if hld else 0.0))
            ldl += rng.gauss(0, 8)
            return ldl if lab == "ldl" else ldl + rng.gauss(52, 8) + rng.gauss(28, 6)
        if lab == "potassium":
            on_raas = any(p.on(d, when) > 0 for p in has.values() for d in RAAS)
            return body.potassium + (0.2 if on_raas else 0.0) + rng.gauss(0, 0.15)
        if lab == "sodium":
            return body.sodium + rng.gauss(0, 1.2)
        if lab == "hemoglobin":
            return body.hemoglobin + rng.gauss(0, 0.3)
        if lab == "uacr":
            ckd, dm = has.get("ckd"), has.get("diabetes")
            cut = 0.3 * (ckd.on("losartan", when) if ckd else 0.0)
            cut += 0.3 * (dm.on("empagliflozin", when) if dm else 0.0)
            return max(2.0, body.uacr * (1 - cut) * rng.lognormvariate(0, 0.15))
        if lab == "phq9":
            dep = has.get("depression")
            score = body.phq9
            if dep is not None:
                current = [
                    t
                    for t in dep.therapies
                    if t.start <= when and (t.stop is None or t.stop > when)
                ]
                if current:
                    months = (when - current[-1].start).days / 30
                    score -= min(score - 2, 1.6 * months)
                elif dep.stays_well:
                    score = 3.0
            return min(27.0, max(0.0, score + rng.gauss(0, 1.5)))
        raise KeyError(lab)
