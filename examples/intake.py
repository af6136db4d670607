"""Intake agent: a triage note and vitals in, an escalation out when its rules say so.

Rule-based policy (no language model needed; with ``CARELOG_LLM_URL`` set a model decides
and its name is recorded): SpO2 under 92 %, systolic pressure of 180 or more, a heart rate of
130 or more, or chest pain with a systolic under 90 is emergent; chest pain, shortness of
breath, a temperature of 39.5 Cel or more or SpO2 under 95 % is urgent; else no escalation.

    CARELOG_API_KEY=... python examples/intake.py --patient P-DEMO-1
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from _common import Decision, connect, decide, record_decision

from carelog.client import Client

AGENT = "intake-example"


@dataclass(frozen=True, slots=True)
class Intake:
    symptoms: list[str]
    text: str
    systolic: float
    diastolic: float
    heart_rate: float
    spo2: float
    temperature: float


def rules(intake: Intake) -> Decision:
    """The rule-based policy of the module's text."""
    chest = "chest pain" in intake.symptoms
    if (
        intake.spo2 < 92
        or intake.systolic >= 180
        or intake.heart_rate >= 130
        or (chest and intake.systolic < 90)
    ):
        return Decision("emergent", "Rule-based policy: a vital sign in the emergent range.")
    if (
        chest
        or "shortness of breath" in intake.symptoms
        or intake.temperature >= 39.5
        or (intake.spo2 < 95)
    ):
        return Decision("urgent", "Rule-based policy: a symptom or sign to see today.")
    return Decision("none", "Rule-based policy: nothing that needs a clinician now.")


def run(carelog: Client, patient_id: str, intake: Intake) -> dict[str, Any]:
    """Record the note and the vitals, decide, open an escalation if needed, record why."""
    note = carelog.record_event({
        "patient_id": patient_id, "event_type": "triage_note", "source": AGENT,
        "payload": {"symptoms": intake.symptoms, "text": intake.text},
    })  # fmt: skip
    vitals = carelog.record_event({
        "patient_id": patient_id, "event_type": "vital_signs", "source": AGENT,
        "payload": {
            "blood_pressure": {"systolic": intake.systolic, "diastolic": intake.diastolic},
            "heart_rate": {"value": intake.heart_rate, "unit": "/min"},
            "spo2": {"value": intake.spo2, "unit": "%"},
            "temperature": {"value": intake.temperature, "unit": "Cel"},
        },
    })  # fmt: skip
    decision = decide(
        "Should this intake be escalated to a clinician: emergent, urgent, routine or none?",
        {"symptoms": intake.symptoms, "note": intake.text, "vitals": vitals.payload},
        lambda: rules(intake),
    )
    escalation = None
    if decision.action in ("emergent", "urgent", "routine"):
        case = carelog.open_case("escalation", {
            "patient_id": patient_id, "severity": decision.action,
            "reason": f"{', '.join(intake.symptoms) or 'intake'}: {decision.rationale}",
            "link_events": [note.id, vitals.id],
        })  # fmt: skip
        escalation = case.id
    decided = record_decision(carelog, patient_id, AGENT, decision, [note.id, vitals.id])
    return {"decision": decision.action, "escalation": escalation, "decision_event": decided,
            "model": decision.model}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patient", default="P-DEMO-1")
    args = parser.parse_args()
    intake = Intake(["chest pain"], "Synthetic: pressure-like chest pain since 6 am.",
                    150, 95, 104, 96, 37.2)  # fmt: skip
    with connect() as carelog:
        print(run(carelog, args.patient, intake))


if __name__ == "__main__":
    main()
