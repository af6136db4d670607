"""The webhook outbox (migration 0024): subscriptions, the deliveries the trigger on
patient_events writes in each writer's transaction, and their attempts. A worker claims a
due delivery with ``FOR UPDATE SKIP LOCKED`` (the one statement that looks across tenants),
then reads and finishes it speaking for its tenant. Connection first, the rest
keyword-only; never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row, dict_row

from carelog.domain.subscriptions import Subscription
from carelog.storage.db import Connection
from carelog.storage.queries import Queries

load = Queries(__name__)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a worker has claimed (leased)."""

    tenant_id: str
    delivery_id: int


@dataclass(frozen=True, slots=True)
class ToSend:
    """What a claimed delivery sends, and where it stands."""

    id: int
    state: str
    subscription_id: UUID
    patient_id: str
    event_id: int
    attempts: int
    round_attempts: int
    url: str
    secret: str
    active: bool
    doc: str


def _sorted(values: frozenset[str] | None) -> list[str] | None:
    return None if values is None else sorted(values)


async def create_subscription(
    conn: Connection,
    *,
    tenant_id: str,
    subscription_id: UUID,
    url: str,
    secret: str,
    patient_ids: list[str] | None,
    event_types: list[str] | None,
    description: str | None,
    patients: frozenset[str] | None,
    visible_labels: frozenset[str] | None,
    created_by: str,
) -> Subscription:
    """Store a new, active subscription."""
    async with conn.cursor(row_factory=class_row(Subscription)) as cur:
        await cur.execute(
            load("create_subscription"),
            {
                "tenant_id": tenant_id,
                "id": subscription_id,
                "url": url,
                "secret": secret,
                "patient_ids": patient_ids,
                "event_types": event_types,
                "description": description,
                "patients": _sorted(patients),
                "visible_labels": _sorted(visible_labels),
                "created_by": created_by,
            },
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def get_subscription(
    conn: Connection, *, tenant_id: str, subscription_id: UUID
) -> Subscription | None:
    """One subscription of the tenant's."""
    async with conn.cursor(row_factory=class_row(Subscription)) as cur:
        await cur.execute(load("get_subscription"), {"tenant_id": tenant_id, "id": subscription_id})
        return await cur.fetchone()


async def list_subscriptions(conn: Connection, *, tenant_id: str, limit: int) -> list[Subscription]:
    """The tenant's subscriptions, oldest first, at most ``limit``."""
    async with conn.cursor(row_factory=class_row(Subscription)) as cur:
        await cur.execute(load("list_subscriptions"), {"tenant_id": tenant_id, "limit": limit})
        return await cur.fetchall()


async def deactivate_subscription(
    conn: Connection, *, tenant_id: str, subscription_id: UUID
) -> Subscription | None:
    """Deactivate a subscription and cancel its pending deliveries; None if there is none."""
    async with conn.cursor(row_factory=class_row(Subscription)) as cur:
        await cur.execute(
            load("deactivate_subscription"), {"tenant_id": tenant_id, "id": subscription_id}
        )
        return await cur.fetchone()


async def list_deliveries(
    conn: Connection, *, tenant_id: str, subscription_id: UUID, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """A page of a subscription's deliveries, newest first, with their attempts."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            load("list_deliveries"),
            {
                "tenant_id": tenant_id,
                "subscription_id": subscription_id,
                "before": before,
                "limit": limit,
            },
        )
        return await cur.fetchall()


async def replay_delivery(
    conn: Connection, *, tenant_id: str, subscription_id: UUID, delivery_id: int
) -> bool:
    """Put a dead delivery of an active subscription back in the queue; whether it was."""
    cur = await conn.execute(
        load("replay_delivery"),
        {"tenant_id": tenant_id, "subscription_id": subscription_id, "delivery_id": delivery_id},
    )
    return await cur.fetchone() is not None


async def delivery_state(
    conn: Connection, *, tenant_id: str, subscription_id: UUID, delivery_id: int
) -> tuple[str, bool] | None:
    """A delivery's state and whether its subscription is active; None if there is none."""
    cur = await conn.execute(
        load("delivery_state"),
        {"tenant_id": tenant_id, "subscription_id": subscription_id, "delivery_id": delivery_id},
    )
    row = await cur.fetchone()
    return None if row is None else (str(row[0]), bool(row[1]))


async def claim_delivery(conn: Connection, *, lease_seconds: float) -> Claimed | None:
    """Lease the next due delivery of any tenant (the connection may speak for none)."""
    cur = await conn.execute(load("claim_delivery"), {"lease_seconds": lease_seconds})
    row = await cur.fetchone()
    return None if row is None else Claimed(str(row[0]), int(row[1]))


async def delivery_to_send(conn: Connection, *, tenant_id: str, delivery_id: int) -> ToSend | None:
    """What a claimed delivery sends."""
    async with conn.cursor(row_factory=class_row(ToSend)) as cur:
        await cur.execute(
            load("delivery_to_send"), {"tenant_id": tenant_id, "delivery_id": delivery_id}
        )
        return await cur.fetchone()


async def finish_attempt(
    conn: Connection,
    *,
    tenant_id: str,
    delivery_id: int,
    attempt: int,
    started_at: datetime,
    duration_ms: int,
    status_code: int | None,
    error: str | None,
    state: str,
    retry_in: float,
) -> str | None:
    """Record an attempt and move its delivery (``delivered``, ``pending`` again after
    ``retry_in`` seconds, or ``dead``); the state it is left in, None if it was no longer
    pending."""
    cur = await conn.execute(
        load("finish_attempt"),
        {
            "tenant_id": tenant_id,
            "delivery_id": delivery_id,
            "attempt": attempt,
            "started_at": started_at,
            "duration_ms": duration_ms,
            "status_code": status_code,
            "error": error,
            "state": state,
            "retry_in": retry_in,
        },
    )
    row = await cur.fetchone()
    return None if row is None else str(row[0])
