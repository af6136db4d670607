"""Webhook subscriptions and their deliveries (``/subscriptions``): what a client sends and
what it is answered. The secret is in :class:`SubscriptionCreated` only, the creation's
answer; every later read is a :class:`Subscription`, which has none."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from carelog.domain.limits import EventType, PatientId
from carelog.errors import ValidationFailed

DeliveryState = Literal["pending", "delivered", "dead", "cancelled"]

# The payload's type (Standard Webhooks: ``type``, ``timestamp``, ``data``).
EVENT_RECORDED = "patient_event.recorded"


class WebhookTargetRefused(ValidationFailed):
    """The subscription's URL may not be delivered to: not https (unless the service allows
    http), or a host that is or resolves to a loopback, private, link-local or otherwise
    non-public address (unless the service allows them), or one that does not resolve."""

    code = "webhook-target-refused"
    title = "Webhook target refused"


class SubscriptionCreate(BaseModel):
    """A new subscription: where to deliver, and which events (each filter optional: none
    means every event the creator's key may read; both: an event must match both)."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        str,
        Field(
            min_length=8,
            max_length=2048,
            pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[\x21-\x7e]+$",
            description="The receiver: an https URL (http only where the service allows it).",
        ),
    ]
    patient_ids: Annotated[
        list[PatientId] | None,
        Field(min_length=1, max_length=1000, description="Only these patients' events."),
    ] = None
    event_types: Annotated[
        list[EventType] | None,
        Field(min_length=1, max_length=100, description="Only events of these types."),
    ] = None
    description: Annotated[str | None, Field(max_length=256, pattern=r"^[^\u0000]*$")] = None


class Subscription(BaseModel):
    """A subscription as it is read back (never with its secret). ``patients`` and
    ``visible_labels`` are what its creator's key could read when it was made (null: all):
    it is delivered no event beyond them."""

    id: UUID
    url: str
    patient_ids: list[str] | None
    event_types: list[str] | None
    description: str | None
    patients: list[str] | None
    visible_labels: list[str] | None
    active: bool
    created_by: str
    created_at: datetime
    deactivated_at: datetime | None


class SubscriptionCreated(Subscription):
    """The creation's answer: the subscription and, this once, its signing secret."""

    secret: str = Field(
        description="The signing secret (`whsec_` and base64): shown in this answer only."
    )


class DeliveryAttempt(BaseModel):
    """One attempt to deliver: the receiver's status code, or the error that stopped it."""

    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


class Delivery(BaseModel):
    """One event to one subscription: its ``webhook-id`` (the same on every attempt and
    replay, for receivers to deduplicate), its state and its attempts."""

    id: int
    webhook_id: str
    event_id: int
    patient_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    replays: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    history: list[DeliveryAttempt]


def webhook_id(delivery_id: int) -> str:
    """The ``webhook-id`` header of a delivery."""
    return f"msg_{delivery_id}"
