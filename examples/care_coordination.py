"""Care-coordination agent: reads a patient's context and opens care tasks for its gaps.

Rule-based policy (no language model needed; with ``CARELOG_LLM_URL`` set a model decides
and its name is recorded): a patient with active diabetes (ICD-10-CM E10-E13) and no HbA1c
(LOINC 4548-4) in the last 180 days gets a task for the care manager to order one; a
patient with hypertension (I10-I16) and no blood pressure in the last 90 days, one to take
it. An open task for the same gap is not opened twice.

    CARELOG_API_KEY=... python examples/care_coordination.py --patient P-DEMO-3
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import Decision, connect, decide, record_decision

from carelog.client import Client

AGENT = "care-coordination-example"
GAPS = [
    # (condition code prefixes, what the gap is, the event type and test that closes it, days)
    (("E10", "E11", "E12", "E13"), "order an HbA1c (none in 180 days)", "lab_result",
     "4548-4", 180),
    (("I10", "I11", "I12", "I13", "I15", "I16"), "take a blood pressure (none in 90 days)",
     "vital_signs", "blood_pressure", 90),
]  # fmt: skip


def _found(carelog: Client, patient_id: str, event_type: str, mark: str, days: int) -> bool:
    since = datetime.now(UTC) - timedelta(days=days)
    for event in carelog.list_events(patient_id, event_type=[event_type], since=since):
        if event.payload.get("loinc") == mark or mark in event.payload:
            return True
    return False


def run(carelog: Client, patient_id: str) -> dict[str, Any]:
    """Read the context (pinned to now), find the gaps, open a task for each new one, and
    record why, citing the lines it read."""
    context = carelog.get_context(patient_id, as_of=datetime.now(UTC))
    conditions = [c for s in context.sections if s.name == "conditions" for c in s.lines]
    open_tasks = {t.description for t in carelog.list_cases(
        "care_task", patient_id=patient_id, status=["requested", "accepted", "in_progress"])
        if hasattr(t, "description")}  # fmt: skip
    opened, relied = [], []
    for prefixes, gap, event_type, mark, days in GAPS:
        lines = [line for line in conditions if any(p in line.text for p in prefixes)]
        if not lines:
            continue
        relied += [c for line in lines for c in line.cites]

        def rules(gap: str = gap, event_type: str = event_type, mark: str = mark,
                  days: int = days) -> Decision:  # fmt: skip
            if _found(carelog, patient_id, event_type, mark, days):
                return Decision("none", f"Rule-based policy: no gap, the record has it ({gap}).")
            return Decision("open_task", f"Rule-based policy: {gap}.")

        facts = {"conditions": [line.text for line in lines]}
        decision = decide(f"Is there a care gap: {gap}?", facts, rules)
        description = f"Care gap: {gap}"
        if decision.action == "open_task" and description not in open_tasks:
            task = carelog.open_case("care_task", {
                "patient_id": patient_id, "description": description,
                "assignee": "care-manager", "priority": "routine",
                "due_at": (datetime.now(UTC) + timedelta(days=14)).isoformat(),
            })  # fmt: skip
            opened.append(task.id)
        record_decision(carelog, patient_id, AGENT, decision, relied, context.as_of)
    return {"opened": opened, "relied_on": sorted(set(relied))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patient", default="P-DEMO-3")
    args = parser.parse_args()
    with connect() as carelog:
        print(run(carelog, args.patient))


if __name__ == "__main__":
    main()
