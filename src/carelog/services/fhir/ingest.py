"""FHIR R4 in, a Bundle at a time (``POST /fhir``): each entry read by ``domain.fhir``
(``read_bundle``, vital signs joined by ``merge_signs``) and stored as an event of the
caller's tenant, through the same statements as ``POST /patient-events`` and corrections
(each event with its audit row).

What an entry becomes:

- a Patient registers its identifiers for the patient it gives (``fhir_patient_identifiers``);
  Patients are stored before the other entries, so that those can name them by identifier;
- another resource is an event of the type the mapping says (``fhir.<ResourceType>`` when
  none), for the patient its subject names: ``Patient/<id>``, a Patient of the Bundle, or an
  identifier registered before (an unknown one fails the entry, ``not-found``); a
  patient-limited key may write only its patients (``forbidden``);
- each resource is remembered by type and id (``#<content hash>`` without an id): the same
  versionId or the same content again is ``unchanged`` and writes nothing; other content is
  ``corrected``, a correction of the event (a retraction, when the resource now says
  entered-in-error); a new one is ``created``.

A ``transaction`` is all or nothing: every entry in one transaction, and one entry that
cannot be read or stored fails the request (400, an OperationOutcome naming it) with
nothing stored. A ``batch`` stores each entry that can be stored and answers a
``batch-response`` Bundle; a ``collection`` the same, answered with an OperationOutcome
summary. A batch (or collection) is stored in one transaction as well, for one commit
rather than one an entry; its entries still succeed or fail one by one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from carelog.domain.audit import AuditAction
from carelog.domain.fhir import (
    Imported,
    ImportedPatient,
    Item,
    Outcome,
    merge_signs,
    operation_outcome,
    read_bundle,
    response_bundle,
)
from carelog.errors import ValidationFailed
from carelog.services.audit import record_success
from carelog.services.fhir.entries import SOURCE, Entry, Importer
from carelog.services.unit import Work

__all__ = ["MAX_BUNDLE_ENTRIES", "SOURCE", "BundleImport", "import_bundle", "joined", "sign_key"]

# The most entries one Bundle may have (CARELOG_FHIR_MAX_BUNDLE_ENTRIES gives the service's).
MAX_BUNDLE_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class BundleImport:
    """The answer to an imported Bundle: its HTTP status (200, or 400 for a transaction
    that was rolled back), the FHIR resource to send, and each entry's outcome."""

    status: int
    body: dict[str, Any]
    outcomes: tuple[Outcome, ...]


async def import_bundle(
    work: Work, bundle: dict[str, Any], *, max_entries: int = MAX_BUNDLE_ENTRIES
) -> BundleImport:
    """Import a collection, batch or transaction Bundle into the caller's tenant (see the
    module's docstring). A body that is not such a Bundle, or one with more than
    ``max_entries`` entries, is :class:`ValidationFailed` and nothing is read."""
    entries = bundle.get("entry")
    if isinstance(entries, list) and len(entries) > max_entries:
        raise ValidationFailed(
            f"The Bundle has more than {max_entries} entries.",
            errors=[
                {
                    "field": "entry",
                    "location": "body",
                    "message": f"at most {max_entries} entries",
                    "type": "too_long",
                }
            ],
        )
    # Validating against R4 costs about half a millisecond a resource: in a thread, so that
    # a large Bundle does not hold up the event loop's other requests.
    read = await asyncio.to_thread(read_bundle, bundle)
    if read.kind is None:
        raise ValidationFailed(
            "The body is not a Bundle this service imports.",
            errors=[
                {"field": i.location, "location": "body", "message": i.message, "type": i.code}
                for i in read.issues
            ],
        )
    importer = Importer(work)
    entries_in = joined(list(read.items))
    if read.kind == "transaction":
        outcomes = await importer.transaction(entries_in)
        if any(outcome.fate == "failed" for outcome in outcomes):
            failed = [outcome for outcome in outcomes if outcome.fate == "failed"]
            return BundleImport(400, operation_outcome(failed), tuple(outcomes))
        body = response_bundle("transaction", outcomes)
    else:
        outcomes = await importer.each(entries_in)
        body = (
            response_bundle("batch", outcomes)
            if read.kind == "batch"
            else operation_outcome(outcomes)
        )
    if not importer.audited:
        # Nothing written (all unchanged or failed): the request's own row says so.
        await record_success(work, AuditAction.CREATE, patient_id=None, event_ids=[])
    return BundleImport(200, body, tuple(outcomes))


def sign_key(read: Any) -> tuple[Any, ...] | None:
    # The grouping of merge_signs: one exported vital signs event's Observations.
    if isinstance(read, Imported) and read.event_type == "vital_signs" and read.event_identifier:
        return (read.event_identifier, read.patient, read.occurred_at, read.status, read.labels)
    return None


def joined(items: list[Item]) -> list[Entry]:
    """The entries with the vital signs of one event joined (``merge_signs``), Patients
    first, so that the others can name them."""
    leaders: list[Item] = []
    followers: dict[int, list[Item]] = {}
    seen: dict[tuple[Any, ...], int] = {}
    for item in items:
        key = sign_key(item.read)
        if key is not None and key in seen:
            followers.setdefault(seen[key], []).append(item)
            continue
        if key is not None:
            seen[key] = item.position
        leaders.append(item)
    merged = merge_signs([item.read for item in items])
    assert len(merged) == len(leaders)
    entries = [
        Entry(item, read, tuple(followers.get(item.position, ())))
        for item, read in zip(leaders, merged, strict=True)
    ]
    return sorted(entries, key=lambda e: not isinstance(e.read, ImportedPatient))
