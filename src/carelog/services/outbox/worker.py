"""The delivery worker: lease the next due delivery (``FOR UPDATE SKIP LOCKED``, any
tenant, never a later delivery of a (subscription, patient) while an earlier one is pending),
check its target again, send it signed, record the attempt, and poll again.

At least once: a delivery is leased for longer than an attempt may take, and only a 2xx
answer, recorded after it came, makes it delivered. A worker that dies mid-attempt, or a
receiver that answers 2xx after the timeout, has it sent again: a receiver may see one
``webhook-id`` more than once and deduplicates by it.

Why this small worker and not a job library: the service already runs one such loop for
Bulk Data export (``services.jobs``), and a delivery queue needs the same one claim
statement, plus an order rule (one patient's deliveries in order) that neither procrastinate
nor pgqueuer can state (their locks are per queue or per job, not per key of a row). Both
bring their own schema outside the numbered, checksummed migrations and outside row-level
security, and a job row beside each outbox row to keep in step, written by a trigger in the
event's own transaction that neither library's enqueue fits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from datetime import UTC, datetime

import httpx

from carelog.domain.audit import AuditAction, AuditContext, AuditOutcome
from carelog.domain.subscriptions import EVENT_RECORDED, WebhookTargetRefused, webhook_id
from carelog.services.outbox.signing import headers
from carelog.services.outbox.targets import check_target
from carelog.services.periodic import poll_forever
from carelog.settings import Settings
from carelog.storage import audit as audit_store
from carelog.storage import outbox as store
from carelog.storage.db import Connection, Pool, connection
from carelog.storage.outbox import Claimed, ToSend

_log = logging.getLogger("carelog.webhooks")

# The lease beyond the attempt's own timeout (connecting, recording the outcome).
LEASE_MARGIN_SECONDS = 30.0
_ERROR_CHARS = 200
# The route of a delivery attempt's audit row (no request of a client's: the worker's).
WEBHOOK_ROUTE = "webhook"


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Seconds before the retry after the ``attempt``-th failed attempt: exponential with
    jitter (a random half to all of ``base * 2**(attempt-1)``, capped)."""
    delay = min(cap, base * 2.0 ** min(attempt - 1, 40))
    return float(delay * random.uniform(0.5, 1.0))


def body_of(item: ToSend) -> bytes:
    """The delivery's body, compact JSON as the API answers: the same bytes on every attempt
    (the event is immutable)."""
    body = {
        "type": EVENT_RECORDED,
        "subscription_id": str(item.subscription_id),
        "data": json.loads(item.doc),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def _audit(
    conn: Connection,
    tenant: str,
    item: ToSend,
    attempt: int,
    status: int | None,
    address: str | None,
    delivered: bool,
) -> None:
    """The attempt's audit row, in the tenant's chain: a disclosure of the event (a read)
    by Carelog for the subscription, to the address it was sent to; success once delivered,
    failed otherwise (its status, if the receiver answered)."""
    audit = AuditContext(
        request_id=f"webhook-{item.id}-{attempt}",
        client_address=address,
        route=WEBHOOK_ROUTE,
        tenant_id=tenant,
        principal_kind="service",
        principal_id=f"webhook:{item.subscription_id}",
    )
    await audit_store.insert_audit_event(
        conn,
        audit=audit,
        action=AuditAction.READ,
        outcome=AuditOutcome.SUCCESS if delivered else AuditOutcome.FAILED,
        status=status,
        patient_id=item.patient_id,
        event_ids=[item.event_id],
        result_count=1,
    )


class DeliveryWorker:
    """One delivery worker of this process."""

    def __init__(self, pool: Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.client = httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False, trust_env=False
        )

    async def run_once(self) -> bool:
        """Lease and send one delivery; whether there was one."""
        lease = self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        async with connection(self.pool) as conn:
            claimed = await store.claim_delivery(conn, lease_seconds=lease)
        if claimed is None:
            return False
        await self.deliver(claimed)
        return True

    async def deliver(self, claimed: Claimed) -> None:
        """One attempt of a leased delivery, and its outcome recorded."""
        tenant = claimed.tenant_id
        async with connection(self.pool, tenant) as conn:
            item = await store.delivery_to_send(
                conn, tenant_id=tenant, delivery_id=claimed.delivery_id
            )
        if item is None or item.state != "pending" or not item.active:
            return
        started = datetime.now(UTC)
        clock = time.monotonic()
        status, error, address = await self._attempt(item)
        duration_ms = int((time.monotonic() - clock) * 1000)
        settings = self.settings
        retry_in = 0.0
        if status is not None and 200 <= status < 300:
            state = "delivered"
        elif item.round_attempts + 1 >= settings.webhook_max_attempts:
            state = "dead"
        else:
            state = "pending"
            retry_in = backoff(
                item.round_attempts + 1,
                base=settings.webhook_backoff_seconds,
                cap=settings.webhook_backoff_max_seconds,
            )
        attempt = item.attempts + 1
        async with connection(self.pool, tenant) as conn, conn.transaction():
            await store.finish_attempt(
                conn, tenant_id=tenant, delivery_id=item.id, attempt=attempt,
                started_at=started, duration_ms=duration_ms, status_code=status, error=error,
                state=state, retry_in=retry_in,
            )  # fmt: skip
            await _audit(conn, tenant, item, attempt, status, address, state == "delivered")

    async def _attempt(self, item: ToSend) -> tuple[int | None, str | None, str | None]:
        """The receiver's status code, or the error that stopped the attempt, and the
        address the attempt was sent to (None: none was)."""
        settings = self.settings
        try:
            target = await asyncio.wait_for(
                check_target(
                    item.url,
                    allow_http=settings.webhook_allow_http,
                    allow_private=settings.webhook_allow_private_addresses,
                ),
                settings.webhook_timeout_seconds,
            )
        except WebhookTargetRefused as exc:
            reason = exc.errors[0]["message"] if exc.errors else exc.detail
            return None, f"target refused: {reason}"[:_ERROR_CHARS], None
        except TimeoutError:
            return None, "timeout resolving the host", None
        body = body_of(item)
        sent = headers(item.secret, webhook_id(item.id), int(time.time()), body)
        netloc = target.url.netloc.rsplit("@", 1)[-1]
        sent |= {"content-type": "application/json", "host": netloc,
                 "user-agent": "carelog-webhooks"}  # fmt: skip
        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        error = "no address"
        # Each checked address in turn while the connection is refused (a name with an IPv6
        # and an IPv4 address, one of them not listening); any other outcome is the attempt's.
        for address, url in zip(target.addresses, target.pinned_urls(), strict=True):
            request = self.client.build_request(
                "POST", url, content=body, headers=sent, extensions=extensions
            )
            try:
                # The status is all that is read: a receiver's body (of any size) is not.
                response = await self.client.send(request, stream=True)
                await response.aclose()
            except httpx.ConnectError as exc:
                error = type(exc).__name__
                continue
            except httpx.TimeoutException:
                return None, "timeout", str(address)
            except httpx.HTTPError as exc:
                return None, type(exc).__name__, str(address)
            return response.status_code, None, str(address)
        return None, error, None

    async def run_forever(self) -> None:
        """Send deliveries until cancelled (the service stops)."""
        try:
            await poll_forever(
                self.run_once, self.settings.webhook_poll_seconds, name="webhook worker"
            )
        finally:
            await self.client.aclose()
