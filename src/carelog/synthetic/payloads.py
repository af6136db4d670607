"""The payloads of a synthetic patient's events (``population``): a lab result with its
flag and reference range, vital signs drawn from a body at a time, the times records
write, and how many visits a span holds."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

from carelog.synthetic.catalogue import LABS
from carelog.synthetic.physiology import Body


def lab_payload(key: str, value: float) -> dict[str, Any]:
    """A lab result of test ``key`` (the catalogue's) at ``value``: its LOINC code, unit,
    flag against the reference range, and that range."""
    lab = LABS[key]
    flag = "normal"
    if lab.high is not None and value > lab.high:
        flag = "high"
    elif lab.low is not None and value < lab.low:
        flag = "low"
    shown: float | int = int(value) if lab.decimals == 0 else value
    payload: dict[str, Any] = {
        "loinc": lab.loinc,
        "test": lab.test,
        "value": shown,
        "unit": lab.unit,
        "flag": flag,
    }
    if lab.low is not None or lab.high is not None:
        payload["reference_range"] = {
            key: bound for key, bound in (("low", lab.low), ("high", lab.high)) if bound is not None
        }
    return payload


def vital_signs(
    rng: random.Random, body: Body, when: datetime, *, full: bool, fever: bool, flare: bool
) -> dict[str, Any]:
    """Vital signs of ``body`` at ``when``: blood pressure, heart rate and weight; with
    ``full`` (a wellness visit) or a fever or flare, temperature, SpO2 and breathing rate
    too (raised by the fever or the flare); with ``full``, the height."""
    base = body.baseline
    systolic = body.systolic(when) + rng.gauss(0, 6)
    diastolic = 0.55 * systolic + rng.gauss(9, 4)
    heart = base.heart_rate + rng.gauss(0, 5) + (14 if fever or flare else 0)
    payload: dict[str, Any] = {
        "blood_pressure": {
            "systolic": round(systolic),
            "diastolic": round(diastolic),
            "unit": "mm[Hg]",
        },
        "heart_rate": {"value": round(heart), "unit": "/min"},
        "weight": {"value": round(base.weight + rng.gauss(0, 0.8), 1), "unit": "kg"},
    }
    if full or fever or flare:
        temperature = rng.gauss(38.6, 0.4) if fever else rng.gauss(36.8, 0.2)
        payload["temperature"] = {"value": round(temperature, 1), "unit": "Cel"}
        spo2 = rng.uniform(90, 94) if flare else rng.uniform(96, 99.5)
        payload["spo2"] = {"value": round(spo2), "unit": "%"}
        rate = rng.uniform(22, 28) if flare else rng.uniform(12, 18)
        payload["respiratory_rate"] = {"value": round(rate), "unit": "/min"}
    if full:
        payload["height"] = {"value": round(base.height, 1), "unit": "cm"}
    return payload


def stamp(when: datetime) -> str:
    """An RFC 3339 UTC time to the second, as the records write their times."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def poisson(rng: random.Random, mean: float) -> int:
    """How many of something a span holds, at ``mean`` on average (Knuth's method: the
    means here are small)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
