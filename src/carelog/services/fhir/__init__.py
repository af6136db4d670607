"""A patient's record as FHIR R4: the Bundle of the current version of each of its events'
resources (mapped by ``domain.fhir``), of what the access may see, as recorded by a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from carelog.domain.audit import AuditAction
from carelog.domain.events import EventDocument, EventQuery
from carelog.domain.fhir.history import bundle
from carelog.errors import NotFound, ValidationFailed
from carelog.services.audit import record_success
from carelog.services.unit import Work
from carelog.storage import patient_events as event_store

# The most event versions one Bundle is made of: a record larger than this is refused
# (Bulk Data export is the way to a whole population, or a very long record).
MAX_BUNDLE_VERSIONS = 20_000


@dataclass(frozen=True, slots=True)
class PatientBundle:
    """A patient's record as read, and how many of its events were left out for their
    labels; :meth:`render` makes the Bundle (CPU only: after the unit of work has given its
    connection back)."""

    patient_id: str
    documents: list[EventDocument]
    kind: Literal["collection", "searchset"]
    withheld: int

    def render(self) -> dict[str, Any]:
        """The FHIR Bundle."""
        events = [document.parse() for document in self.documents]
        return bundle(self.patient_id, events, kind=self.kind)


async def patient_bundle(
    work: Work,
    patient_id: str,
    *,
    as_of: datetime | None = None,
    kind: Literal["collection", "searchset"] = "searchset",
) -> PatientBundle:
    """The patient's current record as a FHIR Bundle. A patient with no event in the
    tenant (or beyond a patient-limited key's list) is :class:`NotFound`, as for the lists."""
    access = work.access
    if not access.principal.may_reach(patient_id):
        raise NotFound("No events for that patient.")
    visible = access.visible_labels
    documents = work.audited(
        await event_store.patient_record(
            await work.connection(),
            tenant_id=access.tenant_id,
            patient_id=patient_id,
            as_of=as_of,
            max_versions=MAX_BUNDLE_VERSIONS,
            audit=access.audit,
            visible_labels=visible,
        )
    )
    if len(documents) > MAX_BUNDLE_VERSIONS:
        raise ValidationFailed(
            f"The patient's record has more than {MAX_BUNDLE_VERSIONS} event versions: "
            "too many for one Bundle.",
            errors=[
                {
                    "field": "patient_id",
                    "location": "path",
                    "message": f"more than {MAX_BUNDLE_VERSIONS} event versions",
                    "type": "too_large",
                }
            ],
        )
    withheld = 0
    if visible is not None:
        withheld = await event_store.count_withheld(
            work.conn,
            tenant_id=access.tenant_id,
            query=EventQuery(patient_id=patient_id, as_of=as_of),
            visible_labels=visible,
        )
    if not documents:
        if not withheld:
            raise NotFound("No events for that patient.")  # (audited as a failed 404)
        # Everything withheld: an empty Bundle, audited as a read of nothing.
        await record_success(work, AuditAction.READ, patient_id=patient_id, event_ids=[])
    return PatientBundle(patient_id, documents, kind, withheld)
