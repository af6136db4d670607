"""The patient event: what an agent observed or decided, as stored in the append-only log."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from carelog.domain.limits import (
    JSON_OBJECT_SCHEMA,
    ClientText,
    ClinicalTime,
    EventType,
    PatientId,
    Source,
    check_json_value,
    no_duplicates,
)
from carelog.domain.scopes import SensitivityLabel


def _check_payload(value: dict[str, Any]) -> dict[str, Any]:
    check_json_value(value)
    return value


Payload = Annotated[
    dict[str, Any], AfterValidator(_check_payload), WithJsonSchema(JSON_OBJECT_SCHEMA)
]


class PatientEventCreate(BaseModel):
    """What a client sends to record an event (the seed's body plus optional fields)."""

    model_config = ConfigDict(extra="forbid")

    patient_id: PatientId = Field(description="The patient's identifier within the tenant.")
    event_type: EventType = Field(
        description="A built-in type (its payload is checked by the type's schema: see "
        "GET /event-types), a type the tenant registered, or any other (free JSON, unless "
        "the tenant refuses unregistered types).",
    )
    payload: Payload = Field(description="The event's content, a JSON object.")
    occurred_at: ClinicalTime | None = Field(
        default=None, description="Clinical time (timezone required); defaults to now."
    )
    source: Source | None = Field(default=None, description="Agent or system that produced it.")
    labels: Annotated[frozenset[SensitivityLabel], BeforeValidator(no_duplicates)] = Field(
        default=frozenset(),
        description="Sensitivity labels (BH, ETH, HIV, STD, GDIS, SEX): readers need the "
        "matching sensitive:<label> permission.",
    )

    def request_hash(self) -> bytes:
        """A digest of what the client asked for, to tell an idempotent retry from a reuse.

        An omitted ``occurred_at`` stays omitted: a retry later in time is the same request.
        """
        # Imported here: orjson comes with the server extra, and the bare install builds
        # events too (``carelog generate --format fhir``).
        import orjson

        canonical = orjson.dumps(
            {
                "patient_id": self.patient_id,
                "event_type": self.event_type,
                "payload": self.payload,
                "occurred_at": self.occurred_at.astimezone(UTC) if self.occurred_at else None,
                "source": self.source,
                "labels": sorted(self.labels),
            },
            option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z,
        )
        return hashlib.sha256(canonical).digest()


class PatientEvent(BaseModel):
    """An event as stored. ``created_at`` is the recorded time (the seed's name for it)."""

    id: int
    patient_id: str
    event_type: str
    payload: dict[str, Any]
    occurred_at: datetime
    created_at: datetime
    recorded_by: str
    source: str | None = None
    status: str = "final"
    supersedes: int | None = None
    labels: list[str] = Field(default_factory=list)
    schema_version: int = 1


@dataclass(frozen=True, slots=True)
class EventDocument:
    """A stored event already rendered as its public JSON (by the database).

    Reads pass ``json`` to the client untouched; ``id`` and ``occurred_at`` are kept beside it
    for pagination. :meth:`parse` gives the typed :class:`PatientEvent` where code needs one.
    """

    id: int
    occurred_at: datetime
    json: str

    def parse(self) -> PatientEvent:
        """The event as a model."""
        return PatientEvent.model_validate_json(self.json)


class EventQuery(BaseModel):
    """Filters and page position of a list query on one patient's events."""

    model_config = ConfigDict(frozen=True)

    patient_id: str
    event_types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 20
    after: tuple[datetime, int] | None = None
    history: bool = False
    as_of: datetime | None = None


Reason = Annotated[ClientText, StringConstraints(min_length=1, max_length=500)]


class CorrectionCreate(BaseModel):
    """A correction: the event's new payload (validated as its type), and why."""

    model_config = ConfigDict(extra="forbid")

    payload: Payload
    reason: Reason
    occurred_at: ClinicalTime | None = Field(
        default=None, description="Corrected clinical time; default: the original's."
    )


class RetractionCreate(BaseModel):
    """A retraction: the event was entered in error, and why."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason
