"""A per-process cache of patients' contexts, validated by the database on every read.

An agent loop reads the same patient's context again and again between writes. Choosing the
candidates and building the context costs several times a list page; checking that nothing
changed costs one primary-key lookup. An entry holds the candidates read in one snapshot
together with the patient's version (``patient_heads``, bumped in the writer's transaction by
every statement that records events for the patient, whatever its path), and the contexts
built from them for each set of options asked for. A read uses an entry only if the
patient's version in the database is still the entry's, so a cached context is always the
context a fresh build would give (tests hold the two equal).

A context's open items (the patient's open workflow cases) are read with its candidates;
every transition writes an event, so the patient's version covers them too. Their overdue
flags move with time: a context is remembered per options and per those flags.

Only reads of "now" are cached, and only when every event the snapshot held had been recorded
by the time the context was pinned to, so that the same candidates stand for any later time
while the version holds; time-travel reads (``as_of``) always build. The database picks the
candidates after the reader's filters (labels, time window, types), so entries are per
tenant, patient and those filters; least recently used ones are dropped beyond ``size`` (0
turns the cache off).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime

from carelog.domain.context import PatientContext, build_context
from carelog.domain.events import PatientEvent
from carelog.domain.workflows.case import Case

BUILT_PER_ENTRY = 8  # option sets remembered per patient (labels, since, types, budget)


@dataclass(frozen=True, slots=True)
class ContextOptions:
    """What, besides the events, a context depends on."""

    visible_labels: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    types: frozenset[str] | None = None
    max_tokens: int | None = None

    def selection(self) -> ContextOptions:
        """What the candidates depend on (all but the budget)."""
        return replace(self, max_tokens=None)


@dataclass(frozen=True, slots=True)
class Built:
    """A context and the ids of the events it cites (what its read's audit row names)."""

    context: PatientContext
    cited: list[int]


@dataclass(slots=True)
class Candidates:
    """A patient's context candidates for one selection, read in one snapshot at ``version``,
    and what was built from them. ``as_of``: the time it was pinned to (every event recorded
    by then); ``withheld``: what the labels hid from the selection."""

    patient_id: str
    version: int
    as_of: datetime
    withheld: int
    events: list[PatientEvent]
    # The patient's open workflow cases the reader may see, read with the events.
    open_cases: list[Case] = field(default_factory=list)
    built: OrderedDict[tuple[ContextOptions, tuple[bool, ...]], Built] = field(
        default_factory=OrderedDict
    )

    def context(
        self, options: ContextOptions, *, as_of: datetime, now: datetime | None = None
    ) -> Built:
        """The context for ``options``, pinned to ``as_of`` (same events: same context),
        its open items' overdue flags as of ``now`` (``as_of`` when not given)."""
        moment = now or as_of
        key = (options, tuple(case.overdue(moment) for case in self.open_cases))
        built = self.built.get(key)
        if built is None:
            context = build_context(
                self.patient_id,
                self.events,
                as_of=self.as_of,
                visible_labels=options.visible_labels,
                since=options.since,
                until=options.until,
                types=options.types,
                max_tokens=options.max_tokens,
                withheld=self.withheld,
                open_cases=self.open_cases,
                now=moment,
            )
            built = Built(context, context.cited())
            self.built[key] = built
            if len(self.built) > BUILT_PER_ENTRY:
                self.built.popitem(last=False)
        if as_of == self.as_of:
            return built
        return Built(built.context.model_copy(update={"as_of": as_of}), built.cited)


Key = tuple[str, str, ContextOptions]


class ContextCache:
    """Candidates by (tenant, patient, selection), least recently used dropped beyond
    ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Key, Candidates] = OrderedDict()

    def get(self, tenant_id: str, patient_id: str, options: ContextOptions) -> Candidates | None:
        """The entry, if any (still to be checked against the patient's version)."""
        key = (tenant_id, patient_id, options.selection())
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(
        self, tenant_id: str, patient_id: str, options: ContextOptions, entry: Candidates
    ) -> None:
        """Remember ``entry``, replacing an older one of the patient and selection."""
        if self.size <= 0:
            return
        key = (tenant_id, patient_id, options.selection())
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
