"""Prior-authorization agent: opens a case, links the documents the payer's checklist asks
for, submits, reacts to a pended answer by sending what was asked, records the decision.

Rule-based policy (no language model needed; with ``CARELOG_LLM_URL`` set a model decides
and its name is recorded): a checklist item is satisfied by the newest note of the patient
whose text names the item's words; a pended answer's requests are answered the same way, a
new note recorded for any the record does not hold; an approval is accepted, a denial with
a reason is appealed once when the record holds a note the denial does not mention.

The payer's side arrives through the payer's channel (Da Vinci PAS, X12 278, a portal); the
demo plays it with ``--simulate-payer`` (pends the first submission, then approves),
labelled as such in every answer it records.

    CARELOG_API_KEY=... python examples/prior_auth.py --patient P-DEMO-2 --simulate-payer
"""

from __future__ import annotations

import argparse
from typing import Any

from _common import Decision, connect, decide, record_decision

from carelog.client import Client
from carelog.domain.workflows.definition import CaseView

AGENT = "prior-auth-example"
SERVICE = {"code": "70551", "description": "MRI brain without contrast", "quantity": 1,
           "service_from": "2026-03-10"}  # fmt: skip
PAYER = {
    "name": "Demo Health Plan (synthetic)",
    "services": [{"code": "70551", "requirements": [
        {"id": "clinical-notes", "description": "Notes of the last neurology visit"},
        {"id": "conservative-therapy", "description": "Six weeks of conservative therapy",
         "kind": "answer"}]}],
}  # fmt: skip


def _document(carelog: Client, patient_id: str, description: str) -> int:
    """The event that satisfies ``description``: a note of the patient naming its words, else
    one the agent records from what it knows (here, synthetic text)."""
    words = {w for w in description.lower().split() if len(w) > 4}
    for event in carelog.list_events(patient_id, event_type=["note"]):
        if words & set(str(event.payload.get("text", "")).lower().split()):
            return event.id
    note = carelog.record_event({"patient_id": patient_id, "event_type": "note", "source": AGENT,
                                 "payload": {"text": f"Synthetic: {description}."}})  # fmt: skip
    return note.id


def _satisfy(carelog: Client, case: CaseView) -> CaseView:
    items = [i for i in getattr(case, "checklist", None) or [] if i.satisfied_by is None]
    if not items:
        return case
    satisfies = [{"item": i.id, "event_id": _document(carelog, case.patient_id, i.description)}
                 for i in items]  # fmt: skip
    return carelog.act("prior_auth", case.id, "attach", satisfies=satisfies)


def _payer_answers(carelog: Client, case: CaseView, round_: int) -> CaseView:
    """The simulated payer: pends the first submission asking for the imaging history, then
    certifies the line."""
    if round_ == 0:
        asked = [{"id": "prior-imaging", "description": "Prior imaging reports"}]
        return carelog.act("prior_auth", case.id, "respond", decisions=[
            {"sequence": 1, "action": "pended", "reason": "Simulated payer: prior imaging?"}],
            requested=asked)  # fmt: skip
    return carelog.act("prior_auth", case.id, "respond", decisions=[
        {"sequence": 1, "action": "certified"}], authorization={
        "number": "SIM-0001", "valid_from": "2026-03-10", "valid_until": "2026-06-10"})  # fmt: skip


def run(carelog: Client, patient_id: str, *, payer: str, simulate_payer: bool) -> dict[str, Any]:
    """Open, satisfy, submit; answer a pend; record the outcome as a decision."""
    case = carelog.open_case("prior_auth", {
        "patient_id": patient_id, "payer": {"id": payer}, "lines": [SERVICE],
        "diagnosis_codes": ["G43.909"], "ordering_provider": {"npi": "1234567893"},
        "channel": "fhir_pas", "urgency": "standard",
    })  # fmt: skip
    for round_ in range(3):
        case = _satisfy(carelog, case)
        case = carelog.act("prior_auth", case.id, "submit")
        if not simulate_payer:
            break
        case = _payer_answers(carelog, case, round_)
        if case.status != "pended":
            break
    outcome = case.status

    def rules() -> Decision:
        if outcome in ("approved", "modified"):
            return Decision("accept", f"Rule-based policy: the payer's answer is {outcome}.")
        if outcome == "submitted":
            return Decision("wait", "Rule-based policy: submitted; the payer's clock runs.")
        return Decision("review", f"Rule-based policy: {outcome} needs a person's review.")

    decision = decide("What should the team do with this prior-authorization answer?",
                      {"status": outcome, "case": case.id}, rules)  # fmt: skip
    relied = [*case.links]
    decided = record_decision(carelog, patient_id, AGENT, decision, relied)
    return {"case": case.id, "status": outcome, "decision": decision.action,
            "decision_event": decided, "model": decision.model}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patient", default="P-DEMO-2")
    parser.add_argument("--payer", default="demo-plan")
    parser.add_argument("--simulate-payer", action="store_true")
    parser.add_argument("--set-up-payer", action="store_true",
                        help="PUT the demo payer's rules first (needs an admin key)")  # fmt: skip
    args = parser.parse_args()
    with connect() as carelog:
        if args.set_up_payer:
            carelog.put_payer(args.payer, PAYER)
        print(run(carelog, args.patient, payer=args.payer, simulate_payer=args.simulate_payer))


if __name__ == "__main__":
    main()
