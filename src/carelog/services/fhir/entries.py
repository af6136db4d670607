"""One Bundle's entries stored in one unit of work (``ingest.import_bundle`` says what each
becomes): the lookups of what was imported before, the patient each names, the key's reach,
the event written (``insert_event``, ``insert_revision``, each with its audit row; or, with
``copy``, the created and the revised ones all together, the events revisions supersede
looked up for the batch at once: ``staged``) and the resources remembered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pydantic import ValidationError

from carelog.domain.batch import PAYLOAD_TEXT_CHECKED, BatchItem
from carelog.domain.events import PatientEventCreate
from carelog.domain.fhir import (
    Imported,
    ImportedPatient,
    Issue,
    Item,
    Outcome,
    PatientRef,
    Rejected,
)
from carelog.domain.fhir.codes import PATIENT_IDENTIFIER
from carelog.errors import CarelogError
from carelog.services.event_types import check_event
from carelog.services.fhir.failed import Failed, first_error
from carelog.services.fhir.known import (
    history_location,
    position,
    resource_key,
    same_resource,
)
from carelog.services.fhir.staged import Pending, PendingRevision, Staged
from carelog.services.unit import Work
from carelog.storage import fhir as fhir_store
from carelog.storage import patient_events as event_store
from carelog.storage.fhir import Remembered
from carelog.storage.patient_events import revision_batch
from carelog.storage.patient_events.revision_batch import NewestVersion, StagedRevision

SOURCE = "fhir-import"
_CHECKED = {PAYLOAD_TEXT_CHECKED: True}
_AMENDED, _RETRACTED = "amended", "entered-in-error"
_REASON = "FHIR import: a new version of the resource"


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry to store: the item, what to store (vital signs of one event joined), and
    the entries whose outcome is this one's (the other signs of that event)."""

    item: Item
    read: Imported | ImportedPatient | Rejected
    followers: tuple[Item, ...] = ()


class _RollBack(Exception):
    """Ends a transaction Bundle's transaction when one of its entries failed."""


def _element(read: Imported) -> str:
    return "patient" if read.resource_type == "AllergyIntolerance" else "subject"


class Importer:
    """Stores a Bundle's entries in one unit of work, remembering what it has looked up."""

    def __init__(self, work: Work, *, lines: bool = False, copy: bool = False) -> None:
        self.work = work
        # NDJSON (``lines``): a line's locations start at its resource (``Observation.subject``,
        # its outcome says ``line 7``); a Bundle's at its entry (``Bundle.entry[3].resource``).
        self.lines = lines
        # ``copy`` (for ``each``): the created and revised events are staged and written
        # together (``staged``), with one audit row a patient, when the transaction's
        # entries are all looked at.
        self.staged = Staged() if copy else None
        self.settled: dict[str, Outcome] = {}
        self.tenant = work.access.tenant_id
        self.known: dict[tuple[str, str], Remembered] = {}
        self.identifiers: dict[tuple[str, str], str | None] = {}
        self.pending: dict[tuple[str, str], Remembered] = {}
        # The newest version of each changed resource's event, looked up for the whole batch
        # at once (``_lookup``).
        self.newest: dict[int, NewestVersion] = {}
        self.audited = False

    async def transaction(self, entries: Sequence[Entry]) -> list[Outcome]:
        """Every entry in one transaction, rolled back at the first that fails (entries
        that cannot be read fail it before anything is written). Not with ``copy``: a staged
        revision can still lose its event to another writer once every entry is looked at."""
        assert self.staged is None, "a transaction stores entry by entry"
        unread = [e for e in entries if isinstance(e.read, Rejected)]
        if unread:
            return self._answer([self._rejected(e) for e in unread])
        outcomes: list[tuple[Item, Outcome]] = []
        try:
            async with self.work.transaction():
                await self._lookup(entries)
                for entry in entries:
                    done = await self._store(entry)
                    outcomes.append((entry.item, done))
                    if done.fate == "failed":
                        raise _RollBack
                await self.flush()
        except _RollBack:
            return [o for _, o in outcomes if o.fate == "failed"]
        return self._answer(self._spread(entries, self._settle([o for _, o in outcomes])))

    async def each(self, entries: Sequence[Entry]) -> list[Outcome]:
        """Entry by entry, in one transaction (one commit for the Bundle, not one an
        entry): an entry that fails leaves the others, since every check that can fail it
        comes before the statement that writes it (see ``_store``)."""
        outcomes = []
        async with self.work.transaction():
            await self._lookup(entries)
            for entry in entries:
                if isinstance(entry.read, Rejected):
                    outcomes.append(self._rejected(entry))
                else:
                    outcomes.append(await self._store(entry))
            await self._store_staged()
            await self.flush()
        return self._answer(self._spread(entries, self._settle(outcomes)))

    async def _store_staged(self) -> None:
        # The staged events, stored: each one remembered, its outcome settled.
        if self.staged is None:
            return
        for done in await self.staged.store(self.work):
            if done.remembered is None:  # its event was revised by another writer meanwhile
                message = "its event was corrected at the same time; retry"
                issue = Issue(self._at(done.where, done.resource_type), message, "conflict")
                self.settled[done.where] = Outcome(done.where, "failed", issues=(issue,))
                continue
            self.audited = True
            self._remember(done.remembered)
            self.settled[done.where] = Outcome(
                done.where, done.fate, history_location(done.remembered)
            )

    def _settle(self, outcomes: list[Outcome]) -> list[Outcome]:
        # A staged entry's outcome, with where its event is now that it is stored.
        settled, self.settled = self.settled, {}
        staged = ("created", "corrected")
        return [settled.get(o.where, o) if o.fate in staged else o for o in outcomes]

    def _spread(self, entries: Sequence[Entry], outcomes: list[Outcome]) -> list[Outcome]:
        # The joined signs' entries get the outcome of the event they were stored in.
        found = []
        for entry, outcome in zip(entries, outcomes, strict=True):
            found.append(outcome)
            found.extend(replace(outcome, where=f.where) for f in entry.followers)
        return found

    @staticmethod
    def _answer(outcomes: list[Outcome]) -> list[Outcome]:
        order = {o.where: at for at, o in enumerate(outcomes)}
        return sorted(outcomes, key=lambda o: position(o.where, order))

    @staticmethod
    def _rejected(entry: Entry) -> Outcome:
        assert isinstance(entry.read, Rejected)
        return Outcome(entry.item.where, "failed", issues=entry.read.issues)

    async def _lookup(self, entries: Sequence[Entry]) -> None:
        keys = [resource_key(e.read) for e in entries if not isinstance(e.read, Rejected)]
        self.known.update(
            await fhir_store.lookup_imports(self.work.conn, tenant_id=self.tenant, keys=keys)
        )
        changed = [
            known.event_id
            for e in entries
            if isinstance(e.read, Imported)
            and (known := self.known.get(resource_key(e.read))) is not None
            and known.event_id is not None
            and not same_resource(known, e.read.version_id, e.read.content_hash)
        ]
        access = self.work.access
        self.newest = await revision_batch.revision_targets(
            self.work.conn, tenant_id=self.tenant, event_ids=changed,
            patients=access.principal.patients, visible_labels=access.visible_labels,
        )  # fmt: skip

    async def _store(self, entry: Entry) -> Outcome:
        """Store one entry. Every reason it can fail is found before it writes anything
        (the lookups, the patient, the key's reach, the payload's checks; registering
        identifiers is one statement, all or none), so a failed entry leaves nothing behind
        in a batch's transaction."""
        read, where = entry.read, entry.item.where
        try:
            if isinstance(read, ImportedPatient):
                return await self._patient(read, where)
            assert isinstance(read, Imported)
            return await self._event(read, where, joined=bool(entry.followers))
        except Failed as failed:
            return Outcome(where, "failed", issues=(failed.issue,))

    async def _patient(self, read: ImportedPatient, where: str) -> Outcome:
        location = self._at(where, "Patient")
        patient_id = read.patient_id
        if patient_id is None:
            patient_id = await self._resolve(read.ref, location)
        self._may_reach(patient_id, location)
        key = resource_key(read)
        known = self.known.get(key)
        if known is not None and same_resource(known, read.version_id, read.content_hash):
            return Outcome(where, "unchanged", f"Patient/{patient_id}")
        identifiers = [i for i in read.identifiers if i[0] != PATIENT_IDENTIFIER]
        taken = await fhir_store.register_identifiers(
            self.work.conn, tenant_id=self.tenant, patient_id=patient_id, identifiers=identifiers
        )
        if taken:
            system, value, _ = taken[0]
            raise Failed(
                f"{location}.identifier",
                f"identifier {system}|{value} already names another patient",
                "conflict",
            )
        for identifier in identifiers:
            self.identifiers[identifier] = patient_id
        self._remember(
            Remembered(*key, read.version_id, read.content_hash, patient_id, None, None, 1)
        )
        return Outcome(where, "created" if known is None else "corrected", f"Patient/{patient_id}")

    async def _event(self, read: Imported, where: str, *, joined: bool = False) -> Outcome:
        location = f"{self._at(where, read.resource_type)}.{_element(read)}"
        patient_id = await self._resolve(read.patient, location)
        self._may_reach(patient_id, location)
        key = resource_key(read)
        if self.staged is not None and key in self.staged:
            await self._store_staged()  # the same resource again: against its stored event
        known = self.known.get(key)
        if known is not None and known.event_id is not None:
            if same_resource(known, read.version_id, read.content_hash):
                return Outcome(where, "unchanged", history_location(known))
            return await self._correct(read, where, known, patient_id, joined=joined)
        if read.status == _RETRACTED:
            message = "an entered-in-error resource that was never imported: nothing to retract"
            raise Failed(self._at(where, read.resource_type), message, "not-supported")
        model = PatientEventCreate if self.staged is None else BatchItem
        # The mapping checked a read's payload as storable (``check_json_value``): walked
        # again only when signs were joined into it.
        context = None if joined or self.staged is None else _CHECKED
        try:
            event = model.model_validate(
                {
                    "patient_id": patient_id,
                    "event_type": read.event_type,
                    "payload": read.payload,
                    "occurred_at": read.occurred_at,
                    "source": SOURCE,
                    "labels": sorted(read.labels),
                },
                context=context,
            )
        except ValidationError as exc:
            raise Failed(self._at(where, read.resource_type), first_error(exc), "value") from None
        await self._checked(read, where, joined=joined)
        if self.staged is not None:
            assert isinstance(event, BatchItem)
            remembered = Remembered(
                *key, read.version_id, read.content_hash, patient_id, None, None, 1
            )
            self.staged.add(Pending(where, event, remembered))
            return Outcome(where, "created")  # (its location once stored: _settle)
        stored = await event_store.insert_event(
            self.work.conn, principal=self.work.access.principal, event=event,
            audit=self.work.access.audit,
        )  # fmt: skip
        self.work.note_audited(stored.audited)
        self.audited = True
        remembered = Remembered(
            *key, read.version_id, read.content_hash, patient_id, stored.value.id,
            stored.value.id, 1,
        )  # fmt: skip
        self._remember(remembered)
        return Outcome(where, "created", history_location(remembered))

    async def _correct(
        self, read: Imported, where: str, known: Remembered, patient_id: str, *, joined: bool
    ) -> Outcome:
        """A new version of a resource imported before: a correction (or retraction) of the
        event holding it, now the newest of its chain."""
        assert known.event_id is not None
        access, conn = self.work.access, self.work.conn
        resource = self._at(where, read.resource_type)
        if patient_id != known.patient_id:
            message = f"it was imported for another patient; it cannot move to {patient_id}"
            raise Failed(f"{resource}.{_element(read)}", message, "conflict")
        # Looked up with the batch's others, and used once: a second version of the resource
        # in the batch is looked up again, against what is stored by then.
        newest = self.newest.pop(known.event_id, None)
        if newest is None:
            again = await revision_batch.revision_targets(
                conn, tenant_id=self.tenant, event_ids=[known.event_id],
                patients=access.principal.patients, visible_labels=access.visible_labels,
            )  # fmt: skip
            newest = again.get(known.event_id)
        target = newest.target if newest is not None and newest.visible else None
        if target is None:
            raise Failed(resource, "its earlier version is not visible to this key", "forbidden")
        if target.status == _RETRACTED:
            raise Failed(resource, "its earlier version was retracted", "conflict")
        if target.event_type != read.event_type:
            message = f"it was imported as {target.event_type}, now it reads as {read.event_type}"
            raise Failed(resource, message, "conflict")
        retract = read.status == _RETRACTED
        if not retract:
            await self._checked(read, where, joined=joined)
        revised = replace(
            known,
            version_id=read.version_id,
            content_hash=read.content_hash,
            version=known.version + 1,
        )
        if self.staged is not None:  # stored with the batch's others (its id: _settle)
            status, payload = (_RETRACTED, None) if retract else (_AMENDED, read.payload)
            staged = StagedRevision(target.id, status, _REASON, payload, read.occurred_at)
            self.staged.add_revision(PendingRevision(where, staged, revised))
            return Outcome(where, "corrected")
        revision = await event_store.insert_revision(
            conn,
            principal=access.principal,
            supersedes=target.id,
            status=_RETRACTED if retract else _AMENDED,
            reason=_REASON,
            payload=None if retract else read.payload,
            occurred_at=read.occurred_at,
            audit=access.audit,
        )
        if revision.value is None:  # corrected by someone else this very moment
            raise Failed(resource, "its event was corrected at the same time; retry", "conflict")
        self.work.note_audited(revision.audited)
        self.audited = True
        remembered = replace(revised, event_id=revision.value.id)
        self._remember(remembered)
        return Outcome(where, "corrected", history_location(remembered))

    async def _checked(self, read: Imported, where: str, *, joined: bool) -> None:
        # The tenant's own rules for the type (registered schemas, refusing unregistered).
        # Reading checked a built-in type's payload against its model (``ingest._check``):
        # checked again only when signs were joined into it.
        try:
            await check_event(
                self.work.conn, self.tenant, read.event_type, read.payload, model_checked=not joined
            )
        except CarelogError as exc:
            raise Failed(self._at(where, read.resource_type), exc.detail, "processing") from None

    def _at(self, where: str, resource_type: str) -> str:
        return resource_type if self.lines else f"{where}.resource"

    def _remember(self, remembered: Remembered) -> None:
        # Written by flush, in one statement for the Bundle, before its transaction ends.
        key = (remembered.resource_type, remembered.resource_id)
        self.known[key] = self.pending[key] = remembered

    async def flush(self) -> None:
        """Write what the entries stored so far are to be remembered by."""
        pending, self.pending = list(self.pending.values()), {}
        await fhir_store.remember_imports(self.work.conn, tenant_id=self.tenant, remembered=pending)

    def _may_reach(self, patient_id: str, location: str) -> None:
        if not self.work.access.principal.may_reach(patient_id):
            raise Failed(location, "this key may not record events for that patient", "forbidden")

    async def _resolve(self, ref: PatientRef, location: str) -> str:
        """The Carelog patient a reference names: its id, or a registered identifier."""
        if ref.id is not None:
            return ref.id
        system, value = ref.system or "", ref.value
        if value is None:
            raise Failed(location, f"{ref}: no patient to resolve it to", "not-found")
        if system == PATIENT_IDENTIFIER:
            return value
        key = (system, value)
        if key not in self.identifiers:
            self.identifiers[key] = await fhir_store.resolve_identifier(
                self.work.conn, tenant_id=self.tenant, system=system, value=value
            )
        found = self.identifiers[key]
        if found is None:
            message = f"no Patient with identifier {system}|{value} was imported"
            raise Failed(location, message, "not-found")
        return found
