"""The new events of an import's batch of entries, written together through the path of
``POST /patient-events/batch`` (``storage.patient_events.batch``): COPY into the
transaction's staging table, then one ``INSERT ... SELECT`` into the log with one audit row a
patient naming its events, rather than a statement (and an audit row) an event. The batch's
corrections and retractions likewise (``storage.patient_events.revision_batch``): staged,
then one ``INSERT ... SELECT`` with one ``update`` audit row a patient.

Only what passed every check is staged, so the staged events are stored all together; a
revision whose event another writer superseded in the meantime is the one exception, told
apart when stored (its entry fails). Patients keep their statement each. An entry whose
resource is already staged (the same resource twice in one batch) stores what is staged
first, so that it is looked at against the stored event, as it would be a batch later.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from carelog.domain.batch import BatchItem, log_order
from carelog.domain.fhir.outcomes import Fate
from carelog.services.unit import Work
from carelog.storage.fhir import Remembered
from carelog.storage.patient_events import batch as batch_store
from carelog.storage.patient_events import revision_batch
from carelog.storage.patient_events.revision_batch import StagedRevision


@dataclass(frozen=True, slots=True)
class Pending:
    """A created entry not yet stored: which entry, the event, and what the import is to
    remember of it (its event and chain ids once it is stored)."""

    where: str
    event: BatchItem
    remembered: Remembered


@dataclass(frozen=True, slots=True)
class PendingRevision:
    """A correction or retraction not yet stored: which entry, the revision, and what the
    import is to remember of it (its event id once it is stored)."""

    where: str
    revision: StagedRevision
    remembered: Remembered


@dataclass(frozen=True, slots=True)
class Settled:
    """A staged entry once stored: what to remember of it, or ``None`` when its revision
    lost the race for its event to another writer (nothing written for it)."""

    where: str
    fate: Fate
    remembered: Remembered | None
    resource_type: str


class Staged:
    """The created and revised entries of one transaction, stored by :meth:`store` (again
    and again if need be: the staging tables are emptied for the next)."""

    def __init__(self) -> None:
        self._pending: list[Pending] = []
        self._revisions: list[PendingRevision] = []
        self._keys: set[tuple[str, str]] = set()
        self._stored = 0
        self._revised = 0

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._keys

    def add(self, pending: Pending) -> None:
        """Stage a created entry (at most once per resource type and id until stored)."""
        remembered = pending.remembered
        self._keys.add((remembered.resource_type, remembered.resource_id))
        self._pending.append(pending)

    def add_revision(self, pending: PendingRevision) -> None:
        """Stage a correction or retraction (at most once per resource until stored)."""
        remembered = pending.remembered
        self._keys.add((remembered.resource_type, remembered.resource_id))
        self._revisions.append(pending)

    async def store(self, work: Work) -> list[Settled]:
        """Write the staged events, then the staged revisions, in the unit's open
        transaction, each with one audit row a patient: each entry settled."""
        pending, self._pending, self._keys = self._pending, [], set()
        revisions, self._revisions = self._revisions, []
        conn, access = work.conn, work.access
        settled = []
        if pending:
            events = [p.event for p in pending]
            rows = batch_store.copy_rows(events, [None] * len(events), log_order(events))
            await batch_store.stage_batch(conn, rows=rows, again=self._stored > 0)
            self._stored += 1
            ids = work.audited(
                await batch_store.insert_batch(conn, principal=access.principal, audit=access.audit)
            )
            settled += [
                Settled(
                    p.where, "created",
                    replace(p.remembered, event_id=event_id, chain_id=event_id),
                    p.remembered.resource_type,
                )
                for p, event_id in zip(pending, ids, strict=True)
            ]  # fmt: skip
        if revisions:
            revised = work.audited(
                await revision_batch.insert_revisions(
                    conn, principal=access.principal, revisions=[r.revision for r in revisions],
                    audit=access.audit, again=self._revised > 0,
                )
            )  # fmt: skip
            self._revised += 1
            settled += [
                Settled(
                    r.where, "corrected",
                    None if event_id is None else replace(r.remembered, event_id=event_id),
                    r.remembered.resource_type,
                )
                for r, event_id in zip(revisions, revised, strict=True)
            ]  # fmt: skip
        return settled
