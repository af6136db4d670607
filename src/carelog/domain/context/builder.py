"""The context an agent reads before it acts: a pure function of events, policy and budget.

No I/O here: fetching events and auditing the read sit around it. Given a patient's events
(every version), it keeps what the record said at ``as_of`` (by recorded time), drops
superseded versions and retractions, keeps what occurred in ``[since, until)`` (clinical
time) of the asked-for ``types``, withholds what the reader may not see, and summarises
(``sections.py``). Every line cites the event ids it came from. With a token budget, whole
sections are dropped lowest priority first and named in ``omitted``. Tokens are estimated at
four characters each (no model involved).

Every filter applies before any section picks its newest entries: a section is the newest of
what this reader may see and asked for. The database picks the same candidates
(``storage/patient_events/sql/context_candidates.sql``); a test holds the two to the same context.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from carelog.domain.context import sections as kinds
from carelog.domain.context.model import PatientContext, Section
from carelog.domain.events import PatientEvent
from carelog.domain.workflows.case import Case

# Highest priority first: the budget drops from the end of this list.
SECTIONS = ("allergies", "open_items", "conditions", "medications", "labs", "vitals", "notes")
RETRACTED = "entered-in-error"


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
    until: datetime | None = None,
    types: frozenset[str] | None = None,
    max_tokens: int | None = None,
    withheld: int = 0,
    open_cases: Sequence[Case] = (),
    now: datetime | None = None,
) -> PatientContext:
    """Summarise a patient's events (see the module docstring); deterministic. ``withheld``:
    events the labels hid before these were handed over (the database's count).
    ``open_cases``: the patient's open workflow cases the reader may see (as of the same
    time), shown unless ``types`` narrows the context; overdue is as of ``now``."""
    standing = [
        e
        for e in current_events(events, as_of=as_of)
        if (since is None or e.occurred_at >= since)
        and (until is None or e.occurred_at < until)
        and (types is None or e.event_type in types)
    ]
    if visible_labels is not None:
        kept = [e for e in standing if set(e.labels) <= visible_labels]
        withheld += len(standing) - len(kept)
        standing = kept
    of_type: dict[str, list[PatientEvent]] = {}
    for event in standing:
        of_type.setdefault(event.event_type, []).append(event)
    notes = [e for e in standing if e.event_type in kinds.NOTE_TYPES]
    sections = [
        Section(
            name="allergies", title="Allergies", lines=kinds.allergies(of_type.get("allergy", []))
        ),
        Section(
            name="open_items",
            title="Open items (escalations, prior authorizations, care tasks)",
            lines=kinds.open_items(open_cases if types is None else (), now or as_of),
        ),
        Section(
            name="conditions",
            title="Active conditions",
            lines=kinds.conditions(of_type.get("condition", [])),
        ),
        Section(
            name="medications",
            title="Active medications",
            lines=kinds.medications(of_type.get("medication", [])),
        ),
        Section(
            name="labs",
            title="Labs (latest, previous, trend)",
            lines=kinds.labs(of_type.get("lab_result", [])),
        ),
        Section(
            name="vitals",
            title="Latest vitals",
            lines=kinds.vitals(of_type.get("vital_signs", [])),
        ),
        Section(name="notes", title="Recent notes", lines=kinds.notes(notes)),
    ]
    context = PatientContext(
        patient_id=patient_id, as_of=as_of, until=until, sections=sections, withheld=withheld
    )
    while max_tokens is not None and _tokens(context) > max_tokens and context.sections:
        dropped = context.sections.pop()
        context.omitted.insert(0, dropped.name)
    context.estimated_tokens = _tokens(context)
    return context


def _tokens(context: PatientContext) -> int:
    return math.ceil(len(context.markdown()) / 4)
