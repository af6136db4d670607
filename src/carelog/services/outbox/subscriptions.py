"""The subscription routes' use cases: create (the URL checked against SSRF, the secret made
and answered this once, what the creator's key may read fixed on the subscription), list,
read, deactivate, a subscription's deliveries, and the replay of a dead letter. Each leaves
its audit row in the tenant's chain, with the request's principal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

from carelog.domain.audit import AuditAction
from carelog.domain.scopes import SensitivityLabel
from carelog.domain.subscriptions import (
    Delivery,
    Subscription,
    SubscriptionCreate,
    SubscriptionCreated,
    webhook_id,
)
from carelog.errors import Conflict, NotFound
from carelog.services.audit import record_success
from carelog.services.outbox.signing import new_secret
from carelog.services.outbox.targets import check_target
from carelog.services.unit import Work
from carelog.settings import Settings
from carelog.storage import outbox as store

MAX_SUBSCRIPTIONS_LISTED = 1000
_NO_SUBSCRIPTION = "No subscription of this tenant has that id."


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """A page of deliveries, newest first, and the id the next page continues before."""

    deliveries: list[Delivery]
    next_before: int | None


async def create(
    work: Work, body: SubscriptionCreate, *, settings: Settings
) -> SubscriptionCreated:
    """Make a subscription of the caller's tenant. It is delivered only events the caller's
    key could read now (its patients, its sensitivity labels, never break-the-glass)."""
    await check_target(
        body.url,
        allow_http=settings.webhook_allow_http,
        allow_private=settings.webhook_allow_private_addresses,
    )
    access = work.access
    principal = access.principal
    labels: frozenset[str] | None = principal.visible_labels()
    if labels is not None and len(labels) == len(SensitivityLabel):
        labels = None
    secret = new_secret()
    async with work.transaction():
        made = await store.create_subscription(
            await work.connection(),
            tenant_id=access.tenant_id,
            subscription_id=uuid.uuid4(),
            url=body.url,
            secret=secret,
            patient_ids=None if body.patient_ids is None else sorted(set(body.patient_ids)),
            event_types=None if body.event_types is None else sorted(set(body.event_types)),
            description=body.description,
            patients=principal.patients,
            visible_labels=labels,
            created_by=principal.name,
        )
        await record_success(work, AuditAction.CREATE, patient_id=None, event_ids=[])
    return SubscriptionCreated(**made.model_dump(), secret=secret)


async def list_all(work: Work) -> list[Subscription]:
    """The tenant's subscriptions, active or not, oldest first."""
    found = await store.list_subscriptions(
        await work.connection(), tenant_id=work.access.tenant_id, limit=MAX_SUBSCRIPTIONS_LISTED
    )
    await record_success(work, AuditAction.SEARCH, patient_id=None, event_ids=[])
    return found


async def get(work: Work, subscription_id: UUID) -> Subscription:
    """One subscription (:class:`NotFound` if it is not the tenant's)."""
    found = await store.get_subscription(
        await work.connection(), tenant_id=work.access.tenant_id, subscription_id=subscription_id
    )
    if found is None:
        raise NotFound(_NO_SUBSCRIPTION)
    await record_success(work, AuditAction.READ, patient_id=None, event_ids=[])
    return found


async def deactivate(work: Work, subscription_id: UUID) -> Subscription:
    """Deactivate a subscription: nothing more is delivered to it, its pending deliveries
    are cancelled, and it stays on record with them."""
    async with work.transaction():
        found = await store.deactivate_subscription(
            await work.connection(),
            tenant_id=work.access.tenant_id,
            subscription_id=subscription_id,
        )
        if found is None:
            raise NotFound(_NO_SUBSCRIPTION)
        await record_success(work, AuditAction.UPDATE, patient_id=None, event_ids=[])
    return found


async def deliveries(
    work: Work, subscription_id: UUID, *, before: int | None, limit: int
) -> DeliveryPage:
    """A page of a subscription's deliveries, newest first, with their attempts."""
    tenant = work.access.tenant_id
    conn = await work.connection()
    if (
        await store.get_subscription(conn, tenant_id=tenant, subscription_id=subscription_id)
        is None
    ):
        raise NotFound(_NO_SUBSCRIPTION)
    rows = await store.list_deliveries(
        conn, tenant_id=tenant, subscription_id=subscription_id, before=before, limit=limit + 1
    )
    page = [_delivery(row) for row in rows[:limit]]
    await record_success(work, AuditAction.SEARCH, patient_id=None, event_ids=[])
    return DeliveryPage(page, page[-1].id if len(rows) > limit else None)


def _delivery(row: dict[str, object]) -> Delivery:
    # (history is the json of the attempts, parsed by the driver)
    return Delivery.model_validate({**row, "webhook_id": webhook_id(int(str(row["id"])))})


async def replay(work: Work, subscription_id: UUID, delivery_id: int) -> Delivery:
    """Send a dead letter again (a new round of attempts, the same ``webhook-id``);
    :class:`Conflict` for a delivery that is not dead or a subscription that is inactive."""
    tenant = work.access.tenant_id
    async with work.transaction():
        conn = await work.connection()
        if not await store.replay_delivery(
            conn, tenant_id=tenant, subscription_id=subscription_id, delivery_id=delivery_id
        ):
            state = await store.delivery_state(
                conn, tenant_id=tenant, subscription_id=subscription_id, delivery_id=delivery_id
            )
            if state is None:
                raise NotFound("No delivery of this subscription has that id.")
            if not state[1]:
                raise Conflict("The subscription is inactive: its deliveries are not replayed.")
            raise Conflict(f"Only a dead letter is replayed; this delivery is {state[0]}.")
        await record_success(work, AuditAction.EXECUTE, patient_id=None, event_ids=[])
        rows = await store.list_deliveries(
            conn, tenant_id=tenant, subscription_id=subscription_id, before=delivery_id + 1,
            limit=1,
        )  # fmt: skip
    return _delivery(rows[0])
