"""What reading one FHIR resource gives: an event to record (:class:`Imported`), a patient to
register (:class:`ImportedPatient`), or the reasons it cannot be read (:class:`Rejected`, a
list of :class:`Issue`). Plain frozen values, so a service can store, compare and answer with
them; nothing here raises for bad client input."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# OperationOutcome.issue.code values the import uses (the IssueType value set of R4).
IssueCode = Literal[
    "invalid",
    "structure",
    "required",
    "value",
    "code-invalid",
    "not-supported",
    "too-long",
    "duplicate",
    "not-found",
    "processing",
    "forbidden",
    "conflict",
    "exception",  # (the export's: a job that failed)
    "informational",  # (the export's: queued, cancelled)
]


@dataclass(frozen=True, slots=True)
class Issue:
    """One reason a resource, entry or line cannot be read: where (a FHIRPath-like path such
    as ``Observation.valueQuantity.unit`` or ``Bundle.entry[3].resource.subject``, or
    ``line 7`` for an NDJSON line that is not a resource), what is wrong, and its
    OperationOutcome issue code."""

    location: str
    message: str
    code: IssueCode = "invalid"

    def at(self, prefix: str, resource_type: str) -> Issue:
        """The same issue with the resource's root (``Observation``) replaced by ``prefix``
        (``Bundle.entry[3].resource``), for an issue found in a resource inside a Bundle."""
        location = self.location
        if location == resource_type or location.startswith(resource_type + "."):
            location = prefix + location[len(resource_type) :]
        elif not location.startswith(prefix):
            location = f"{prefix}.{location}" if location else prefix
        return Issue(location, self.message, self.code)


class Invalid(Exception):
    """Raised inside the readers to stop at the first problem; ``read_resource`` turns it
    into a :class:`Rejected`."""

    def __init__(self, location: str, message: str, code: IssueCode = "invalid") -> None:
        super().__init__(message)
        self.issue = Issue(location, message, code)


@dataclass(frozen=True, slots=True)
class PatientRef:
    """Whom a resource is about, as it says it: a FHIR Patient id (``Patient/<id>``), an
    identifier (``system|value``, from ``Patient?identifier=system|value`` or a logical
    reference), or a URL to resolve among a Bundle's fullUrls (``urn:uuid:...``, or an
    absolute URL, which may also give an id). The service maps it to a Carelog patient id."""

    id: str | None = None
    system: str | None = None
    value: str | None = None
    url: str | None = None

    @property
    def resolved(self) -> bool:
        """Whether it names a patient without a Bundle (an id or an identifier)."""
        return self.id is not None or self.value is not None

    def __str__(self) -> str:
        if self.id is not None:
            return f"Patient/{self.id}"
        if self.value is not None:
            return f"Patient?identifier={self.system or ''}|{self.value}"
        return self.url or ""


@dataclass(frozen=True, slots=True)
class Imported:
    """One resource read as one Carelog event.

    ``content_hash`` is the SHA-256 (hex) of the resource's canonical JSON without ``meta``,
    so that the same content imported again is recognised whatever its version or time.
    ``status`` is the event's Carelog status (``final``, ``amended``, ``entered-in-error``):
    what the resource's status says of it. ``event_identifier`` is the Carelog event id a
    resource exported by Carelog names (``urn:carelog:event|<id>``). ``payload`` passes
    ``clinical.check_payload`` for a typed event; a resource with no typed mapping is the
    event ``fhir.<ResourceType>`` with the whole resource as its payload."""

    resource_type: str
    resource_id: str | None
    version_id: str | None
    content_hash: str
    patient: PatientRef
    event_type: str
    payload: dict[str, Any]
    occurred_at: datetime
    labels: frozenset[str] = field(default_factory=frozenset)
    status: str = "final"
    event_identifier: str | None = None


@dataclass(frozen=True, slots=True)
class ImportedPatient:
    """A Patient resource: the Carelog patient id it gives (its ``urn:carelog:patient``
    identifier, else its FHIR id; ``None`` when it has neither), and every identifier as
    ``(system, value)``, by which other resources may address it."""

    resource_id: str | None
    version_id: str | None
    content_hash: str
    patient_id: str | None
    identifiers: tuple[tuple[str, str], ...] = ()
    labels: frozenset[str] = field(default_factory=frozenset)

    @property
    def resource_type(self) -> str:
        """Always ``Patient``."""
        return "Patient"

    @property
    def ref(self) -> PatientRef:
        """How the events that refer to this Patient name the patient."""
        if self.patient_id is not None:
            return PatientRef(id=self.patient_id)
        system, value = self.identifiers[0]
        return PatientRef(system=system, value=value)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A resource (or entry, or line) that cannot be read, and why (at least one issue)."""

    resource_type: str | None
    resource_id: str | None
    issues: tuple[Issue, ...]


Read = Imported | ImportedPatient | Rejected
