"""The new events of an import's batch of entries, written together through the path of
``POST /patient-events/batch`` (``storage.patient_events.batch``): COPY into the
transaction's staging table, then one ``INSERT ... SELECT`` into the log with one audit row a
patient naming its events, rather than a statement (and an audit row) an event.

Only what is ``created`` is staged: every check that can fail an entry runs before it is
staged, so the staged events are stored all together. Corrections, retractions and Patients
keep their statement each (an import is mostly new resources). An entry whose resource is
already staged (the same resource twice in one batch) stores what is staged first, so that
it is looked at against the stored event, as it would be a batch later.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from carelog.domain.batch import BatchItem, log_order
from carelog.services.unit import Work
from carelog.storage.fhir import Remembered
from carelog.storage.patient_events import batch as batch_store


@dataclass(frozen=True, slots=True)
class Pending:
    """A created entry not yet stored: which entry, the event, and what the import is to
    remember of it (its event and chain ids once it is stored)."""

    where: str
    event: BatchItem
    remembered: Remembered


class Staged:
    """The created entries of one transaction, stored by :meth:`store` (again and again if
    need be: the staging table is emptied for the next)."""

    def __init__(self) -> None:
        self._pending: list[Pending] = []
        self._keys: set[tuple[str, str]] = set()
        self._stored = 0

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._keys

    def add(self, pending: Pending) -> None:
        """Stage a created entry (at most once per resource type and id until stored)."""
        remembered = pending.remembered
        self._keys.add((remembered.resource_type, remembered.resource_id))
        self._pending.append(pending)

    async def store(self, work: Work) -> list[tuple[str, Remembered]]:
        """Write the staged events in the unit's open transaction, with one audit row a
        patient: each one's entry and what to remember of it, now with its event id."""
        pending, self._pending, self._keys = self._pending, [], set()
        if not pending:
            return []
        conn, access = work.conn, work.access
        events = [p.event for p in pending]
        rows = batch_store.copy_rows(events, [None] * len(events), log_order(events))
        await batch_store.stage_batch(conn, rows=rows, again=self._stored > 0)
        self._stored += 1
        ids = work.audited(
            await batch_store.insert_batch(conn, principal=access.principal, audit=access.audit)
        )
        return [
            (p.where, replace(p.remembered, event_id=event_id, chain_id=event_id))
            for p, event_id in zip(pending, ids, strict=True)
        ]
