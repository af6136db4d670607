"""The versions of resources from events and their corrections and retractions: the Bulk Data
history of a patient, its current view, its Bundle."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from carelog.domain.events import PatientEvent
from carelog.domain.fhir import codes as c
from carelog.domain.fhir.resources import Resource, Version, patient_resource, to_resources


def versions(events: Iterable[PatientEvent]) -> list[Version]:
    """Each event as a version of a resource, in id (recorded) order: the first event of a
    chain names the resource and each correction or retraction is its next version. An event
    whose predecessor is not among ``events`` starts a chain of its own (give whole chains)."""
    found: dict[int, Version] = {}
    for event in sorted(events, key=lambda e: e.id):
        previous = None if event.supersedes is None else found.get(event.supersedes)
        if previous is None:
            found[event.id] = Version(event, event, event.id, 1)
        else:
            content = previous.content if event.status == c.RETRACTED else event
            found[event.id] = Version(event, content, previous.logical_id, previous.number + 1)
    return list(found.values())


@dataclass(frozen=True, slots=True)
class Link:
    """What telling a resource's versions apart needs of one event: its id and the event it
    supersedes (its place in a chain), its status, and when it was recorded."""

    id: int
    supersedes: int | None
    status: str
    recorded_at: datetime


def current_heads(links: Iterable[Link]) -> dict[int, tuple[int, int]]:
    """The events that are the current version of a resource, as :func:`current` finds
    them among the same events (retracted ones left out), each with its resource's logical
    id and version number, in :func:`current`'s order: what an export needs to know before
    it reads any event's content."""
    found: dict[int, tuple[int, int]] = {}
    latest: dict[int, Link] = {}
    for link in sorted(links, key=lambda x: x.id):
        previous = None if link.supersedes is None else found.get(link.supersedes)
        found[link.id] = (link.id, 1) if previous is None else (previous[0], previous[1] + 1)
        latest[found[link.id][0]] = link
    return {x.id: found[x.id] for x in latest.values() if x.status != c.RETRACTED}


def history(events: Iterable[PatientEvent]) -> Iterator[Resource]:
    """Every version of every resource, in order (the Bulk Data NDJSON of a patient). A
    correction that drops a vital sign gives that sign's Observation an entered-in-error
    version."""
    live: dict[int, tuple[Version, set[str]]] = {}
    for version in versions(events):
        resources = to_resources(version)
        ids = {r["id"] for r in resources}
        yield from resources
        before = live.get(version.logical_id)
        if before is not None and before[1] - ids:
            gone = version.event.model_copy(update={"status": c.RETRACTED})
            dropped = to_resources(
                Version(gone, before[0].content, version.logical_id, version.number)
            )
            yield from (r for r in dropped if r["id"] in before[1] - ids)
        live[version.logical_id] = (version, ids)


def current(events: Iterable[PatientEvent]) -> list[Version]:
    """The current version of each resource, retracted ones left out (as Carelog's lists)."""
    latest: dict[int, Version] = {}
    for version in versions(events):
        latest[version.logical_id] = version
    return [v for v in latest.values() if v.event.status != c.RETRACTED]


def bundle(
    patient_id: str,
    events: Iterable[PatientEvent],
    *,
    kind: Literal["collection", "searchset"] = "collection",
) -> Resource:
    """A Bundle of the patient and the current version of each of its events' resources."""
    resources = [r for version in current(events) for r in to_resources(version)]
    entries: list[Resource] = [{"resource": patient_resource(patient_id)}]
    entries.extend({"resource": resource} for resource in resources)
    result: Resource = {"resourceType": "Bundle", "type": kind}
    if kind == "searchset":
        for at, entry in enumerate(entries):
            entry["search"] = {"mode": "include" if at == 0 else "match"}
        result["total"] = len(resources)
    result["entry"] = entries
    return result
