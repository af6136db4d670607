"""Webhook subscriptions (``/subscriptions``): create one (its secret answered this once),
list and read them, deactivate one (``DELETE``: nothing is deleted), page through a
subscription's deliveries and their attempts, and replay a dead letter. Scope ``admin``: a
subscription is standing egress of patient data to a URL outside Carelog, outliving the
request that made it, which is an operator's decision like making a key."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from carelog.api.deps import Admin, audited
from carelog.api.kit.pagination import NEXT_PAGE, page_headers
from carelog.api.problems import problem_responses
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction
from carelog.domain.subscriptions import (
    Delivery,
    Subscription,
    SubscriptionCreate,
    SubscriptionCreated,
)
from carelog.services.outbox import subscriptions as service

router = APIRouter(tags=["subscriptions"], route_class=JsonRoute)

SubscriptionId = Annotated[UUID, Path(description="The subscription's id.")]
DeliveryId = Annotated[
    int, Path(ge=1, le=2**63 - 1, description="The delivery's id (`webhook-id` msg_<id>).")
]
DeliveryCursor = Annotated[
    str | None,
    Query(
        pattern=r"^[1-9][0-9]{0,17}$",
        description="Where to continue: the cursor of the previous page's `Link` header.",
    ),
]


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string"}}}},
        **problem_responses(403),
    },
)
@audited(AuditAction.CREATE)
async def create_subscription(body: SubscriptionCreate, caller: Admin) -> Response:
    """Subscribe a receiver to the tenant's events (scope `admin`): each new event that
    matches the filter (`patient_ids`, `event_types`; none: every event) and that the
    creating key could read (its patients and sensitivity labels, fixed now) is POSTed to
    `url`, signed in the Standard Webhooks format. The `secret` is in this answer only.
    A URL that is not https, or whose host is or resolves to a loopback, private,
    link-local or otherwise non-public address, is refused with 422
    `webhook-target-refused` (unless the service allows them)."""
    async with caller.work() as work:
        made = await service.create(work, body, settings=caller.settings)
    return Response(
        made.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={"Location": f"/subscriptions/{made.id}", "Cache-Control": "no-store"},
    )


@router.get("/subscriptions", response_model=list[Subscription])
@audited(AuditAction.SEARCH)
async def list_subscriptions(caller: Admin) -> list[Subscription]:
    """The tenant's subscriptions, active or not, oldest first (never their secrets)."""
    async with caller.work() as work:
        return await service.list_all(work)


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=Subscription,
    responses=problem_responses(404),
)
@audited(AuditAction.READ)
async def get_subscription(caller: Admin, subscription_id: SubscriptionId) -> Subscription:
    """One subscription (never its secret)."""
    async with caller.work() as work:
        return await service.get(work, subscription_id)


@router.delete(
    "/subscriptions/{subscription_id}",
    response_model=Subscription,
    responses=problem_responses(404),
)
@audited(AuditAction.UPDATE)
async def deactivate_subscription(caller: Admin, subscription_id: SubscriptionId) -> Subscription:
    """Deactivate a subscription: nothing more is delivered to it and its pending
    deliveries are cancelled. Nothing is deleted: it stays readable, with its deliveries."""
    async with caller.work() as work:
        return await service.deactivate(work, subscription_id)


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    response_model=list[Delivery],
    responses={200: {"headers": NEXT_PAGE}, **problem_responses(404)},
)
@audited(AuditAction.SEARCH)
async def list_deliveries(
    request: Request,
    caller: Admin,
    subscription_id: SubscriptionId,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: DeliveryCursor = None,
) -> Response:
    """A subscription's deliveries, newest first, each with its state (`pending`,
    `delivered`, `dead`, `cancelled`) and its attempts (status code or error, duration)."""
    before = None if cursor is None else int(cursor)
    async with caller.work() as work:
        page = await service.deliveries(work, subscription_id, before=before, limit=limit)
    body = "[" + ",".join(d.model_dump_json() for d in page.deliveries) + "]"
    headers = page_headers(request, None if page.next_before is None else (page.next_before,), str)
    return Response(body, media_type="application/json", headers=headers)


@router.post(
    "/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay",
    response_model=Delivery,
    responses=problem_responses(404, 409),
)
@audited(AuditAction.EXECUTE)
async def replay_delivery(
    caller: Admin, subscription_id: SubscriptionId, delivery_id: DeliveryId
) -> Delivery:
    """Send a dead letter again: it is pending once more, with a new round of attempts and
    the same `webhook-id`. 409 for a delivery that is not dead, or an inactive
    subscription."""
    async with caller.work() as work:
        return await service.replay(work, subscription_id, delivery_id)
