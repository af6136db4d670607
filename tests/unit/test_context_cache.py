"""The context cache on its own (no database): least recently used entries go first, size 0
keeps nothing, built contexts are remembered per option set and re-pinned to the read's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from carelog.domain.context import build_context
from carelog.domain.events import PatientEvent
from carelog.services.context.cache import (
    BUILT_PER_ENTRY,
    Candidates,
    ContextCache,
    ContextOptions,
)

T1 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _event(event_id: int, event_type: str, **payload: object) -> PatientEvent:
    return PatientEvent(
        id=event_id,
        patient_id="P-1",
        event_type=event_type,
        payload=dict(payload),
        occurred_at=T1 - timedelta(hours=event_id),
        created_at=T1 - timedelta(minutes=event_id),
        recorded_by="test",
        labels=["BH"] if event_type == "condition" else [],
    )


def _candidates(version: int = 1) -> Candidates:
    events = [
        _event(1, "allergy", substance="latex"),
        _event(2, "condition", name="depression"),
        _event(3, "lab_result", test="K", value=4.0),
    ]
    return Candidates("P-1", version, T1, 0, events)


ALL = ContextOptions()


def test_least_recently_used_entries_go_first() -> None:
    cache = ContextCache(size=2)
    cache.put("t", "P-1", ALL, _candidates())
    cache.put("t", "P-2", ALL, _candidates())
    assert cache.get("t", "P-1", ALL) is not None  # P-1 is now the most recently used
    cache.put("t", "P-3", ALL, _candidates())
    assert cache.get("t", "P-2", ALL) is None
    assert cache.get("t", "P-1", ALL) is not None
    assert cache.get("other-tenant", "P-1", ALL) is None
    assert len(cache) == 2


def test_entries_are_per_selection_but_not_per_budget() -> None:
    """The database picks the candidates after the labels, window and types, so each of
    those is its own entry; a budget only cuts what was built from the same candidates."""
    cache = ContextCache(size=8)
    plain = ContextOptions(visible_labels=frozenset())
    cache.put("t", "P-1", ALL, _candidates())
    assert cache.get("t", "P-1", plain) is None
    assert cache.get("t", "P-1", ContextOptions(since=T1)) is None
    assert cache.get("t", "P-1", ContextOptions(until=T1)) is None
    assert cache.get("t", "P-1", ContextOptions(types=frozenset({"allergy"}))) is None
    assert cache.get("t", "P-1", ContextOptions(max_tokens=100)) is not None


def test_size_zero_keeps_nothing() -> None:
    cache = ContextCache(size=0)
    cache.put("t", "P-1", ALL, _candidates())
    assert cache.get("t", "P-1", ALL) is None


def test_built_contexts_are_per_options_and_repinned() -> None:
    entry = _candidates()
    later = T1 + timedelta(minutes=5)
    everything = entry.context(ContextOptions(), as_of=later).context
    assert everything.as_of == later
    assert everything.model_dump(exclude={"as_of"}) == build_context(
        "P-1", entry.events, as_of=later
    ).model_dump(exclude={"as_of"})
    plain = entry.context(ContextOptions(visible_labels=frozenset()), as_of=later).context
    assert plain.withheld == 1
    assert "depression" not in plain.markdown()
    assert "depression" in entry.context(ContextOptions(), as_of=T1).context.markdown()
    assert entry.context(ContextOptions(), as_of=later).cited == [1, 2, 3]
    assert entry.context(ContextOptions(visible_labels=frozenset()), as_of=T1).cited == [1, 3]
    # The estimate does not depend on the time pinned to (fixed-width as_of in the markdown).
    on_the_second = build_context("P-1", entry.events, as_of=T1 + timedelta(seconds=1))
    in_between = build_context("P-1", entry.events, as_of=T1 + timedelta(microseconds=123_456))
    assert on_the_second.estimated_tokens == in_between.estimated_tokens
    for minutes in range(BUILT_PER_ENTRY + 3):
        entry.context(ContextOptions(since=T1 - timedelta(minutes=minutes)), as_of=later)
    assert len(entry.built) == BUILT_PER_ENTRY
