"""Which events are about the same fact: the same allergy, condition, drug or lab test.

The rule, in two steps (docs: README, "Context"):

1. **By stored key.** Every allergy, condition, medication and lab result has a key
   (:func:`fact_key`): its first code (LOINC, ICD-10-CM, SNOMED CT, RxNorm, in that order),
   else its substance, test or name, lower-cased; ``#<id>`` when it names nothing. The
   database stores the key with the row and hands the context the latest version(s) of each
   key; everything below works on those alone.
2. **Keys joined into facts.**
   - Coded keys that share a code in the same system are one fact (a condition recorded as
     ICD-10 E11.9 plus SNOMED 44054006, later resolved under SNOMED 44054006 alone).
   - Name-only keys whose names are the same once normalised (case, accents' forms,
     punctuation and spacing: ``domain.units.normalise_name``) are one fact.
   - A name-only fact joins the coded fact that carries the same normalised name (for lab
     tests, also a coded test whose LOINC code the analyte table gives for that name) when
     exactly one coded fact of the kind does. When several do, the match is ambiguous: the
     name-only fact stays on its own, and each coded fact it may be about says so and cites
     it if it was recorded later (a "stopped" recorded by name only must not go unseen).
   - Coded facts with different codes are never joined by their names alone (two strengths
     of one drug have two RxNorm codes and may both be taken).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from carelog.domain.events import PatientEvent
from carelog.domain.units import analyte_loincs, normalise_name

CODE_SYSTEMS = ("loinc", "icd10", "snomed", "rxnorm")
NAME_FIELDS = ("substance", "test", "name")
FACT_KEYS = CODE_SYSTEMS + NAME_FIELDS
FACT_TYPES = ("allergy", "condition", "lab_result", "medication")


def fact_key(event: PatientEvent) -> str:
    """What a coded event is about (its code, allergen, test or name, lower-cased; ``#<id>``
    when it names none): the rule of the stored ``fact_key`` column (migration 0012) that the
    database uses to pick a context's candidates. Values that are not strings are taken as
    their JSON text, as PostgreSQL's ``->>`` does."""
    value = first_present(event.payload, FACT_KEYS)
    if value is None:
        return f"#{event.id}"
    return _text(value).lower()


@dataclass(slots=True)
class Fact:
    """The versions of one fact the context may use, newest first, and the name-only
    entries recorded after them that may be about it too (an ambiguous name)."""

    events: list[PatientEvent]
    maybe: list[PatientEvent] = field(default_factory=list)
    alternatives: int = 0  # for a name-only fact: how many coded facts its name matches

    @property
    def latest(self) -> PatientEvent:
        """The version that stands for the fact."""
        return self.events[0]


def facts(events: Iterable[PatientEvent], *, per_key: int = 1) -> list[Fact]:
    """The facts among ``events`` (one kind), newest latest version first. Each key keeps its
    ``per_key`` latest versions (what the database hands over), then keys join (see above)."""
    by_key: dict[str, list[PatientEvent]] = {}
    for event in sorted(events, key=newest_first):
        kept = by_key.setdefault(fact_key(event), [])
        if len(kept) < per_key:
            kept.append(event)
    groups = [_Group(key, kept) for key, kept in sorted(by_key.items())]
    coded = _join([g for g in groups if g.codes], lambda g: g.codes)
    named = _join([g for g in groups if not g.codes and g.names], lambda g: g.names)
    result = [Fact(g.events) for g in groups if not g.codes and not g.names]
    coded_facts = [Fact(g.events) for g in coded]
    ambiguous: list[tuple[_Group, list[int]]] = []
    for group in named:
        matches = [i for i, c in enumerate(coded) if group.matches(c)]
        if len(matches) == 1:
            target = coded_facts[matches[0]]
            target.events = sorted([*target.events, *group.events], key=newest_first)
        else:
            ambiguous.append((group, matches))
    # Only once every unambiguous name has joined its fact: "later than the fact" is final.
    for group, matches in ambiguous:
        result.append(Fact(group.events, alternatives=len(matches)))
        newest = group.events[0]
        for i in matches:
            if newest_first(newest) < newest_first(coded_facts[i].latest):
                coded_facts[i].maybe.append(newest)
    result.extend(coded_facts)
    for fact in result:
        fact.maybe.sort(key=newest_first)
    return sorted(result, key=lambda f: newest_first(f.latest))


@dataclass(slots=True)
class _Group:
    key: str
    events: list[PatientEvent]
    codes: frozenset[tuple[str, str]] = frozenset()
    loincs: frozenset[str] = frozenset()
    _names: frozenset[str] | None = None  # (computed when asked: most contexts never ask)
    _denoted: frozenset[str] | None = None

    def __post_init__(self) -> None:
        self.codes = frozenset(c for e in self.events for c in _codes(e.payload))
        self.loincs = frozenset(code for system, code in self.codes if system == "loinc")

    @property
    def names(self) -> frozenset[str]:
        """The normalised names its events carry."""
        if self._names is None:
            self._names = frozenset(n for e in self.events for n in _names(e.payload))
        return self._names

    @property
    def denoted(self) -> frozenset[str]:
        """The LOINC codes its names denote in the analyte table."""
        if self._denoted is None:
            self._denoted = frozenset(code for name in self.names for code in analyte_loincs(name))
        return self._denoted

    def absorb(self, other: _Group) -> None:
        self.events = sorted([*self.events, *other.events], key=newest_first)
        self.codes |= other.codes
        self.loincs |= other.loincs
        self._names = self._denoted = None

    def matches(self, coded: _Group) -> bool:
        """Whether this name-only group may be about ``coded``."""
        return not (self.names.isdisjoint(coded.names) and self.denoted.isdisjoint(coded.loincs))


def _join(groups: list[_Group], links: Callable[[_Group], frozenset[Hashable]]) -> list[_Group]:
    """Groups joined wherever two share a link (transitively), in a stable order."""
    joined: list[_Group] = []
    owner: dict[Hashable, _Group] = {}
    for group in groups:
        targets: list[_Group] = []
        for link in links(group):
            found = owner.get(link)
            if found is not None and all(found is not t for t in targets):
                targets.append(found)
        if not targets:
            joined.append(group)
            target = group
        else:
            target = targets[0]
            for other in targets[1:]:
                target.absorb(other)
                joined.remove(other)
            target.absorb(group)
        for link in links(target):
            owner[link] = target
    return joined


def newest_first(event: PatientEvent) -> tuple[float, int]:
    """Sort key: most recently occurred first, then the higher id."""
    return (-event.occurred_at.timestamp(), -event.id)


def _codes(payload: dict[str, Any]) -> Iterable[tuple[str, str]]:
    for system in CODE_SYSTEMS:
        value = payload.get(system)
        if value not in (None, ""):
            yield system, _text(value).lower()


def _names(payload: dict[str, Any]) -> Iterable[str]:
    for name_field in NAME_FIELDS:
        value = payload.get(name_field)
        if isinstance(value, str) and (name := normalise_name(value)):
            yield name


def first_present(payload: dict[str, Any], keys: Iterable[str]) -> Any:
    """The first of ``keys`` the payload has a non-empty value for."""
    return next((payload[k] for k in keys if payload.get(k) not in (None, "")), None)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
