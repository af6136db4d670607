"""``history.current_heads`` (what a Bulk Data export of a long history reads first) finds
the current versions ``history.current`` finds, with the same logical ids, version numbers
and order, over random histories of corrections and retractions, some of whose events are
not among those given (a label the key may not see)."""

from __future__ import annotations

import random

import pytest

from carelog.domain.events import PatientEvent
from carelog.domain.fhir.export import links_of
from carelog.domain.fhir.history import current, current_heads
from tests.factories import fhir_event

pytestmark = pytest.mark.unit


def _history(seed: int) -> list[PatientEvent]:
    rng = random.Random(seed)
    events: list[PatientEvent] = []
    heads: list[int] = []  # the newest version of each chain not retracted
    for event_id in range(1, 120):
        if heads and rng.random() < 0.4:
            target = rng.choice(heads)
            retract = rng.random() < 0.25
            heads.remove(target)
            if not retract:
                heads.append(event_id)
            status = "entered-in-error" if retract else "amended"
            events.append(fhir_event(event_id, "lab_result", {"v": event_id},
                                     supersedes=target, status=status))  # fmt: skip
        else:
            heads.append(event_id)
            events.append(fhir_event(event_id, "lab_result", {"v": event_id}))
    rng.shuffle(events)
    return [e for e in events if rng.random() > 0.1]  # some left out, as a label does


@pytest.mark.parametrize("seed", range(25))
def test_the_heads_are_the_current_versions(seed: int) -> None:
    events = _history(seed)
    expected = {v.event.id: (v.logical_id, v.number) for v in current(events)}
    found = current_heads(links_of(e) for e in events)
    assert list(found.items()) == list(expected.items())
    assert any(number > 1 for _, number in found.values())
