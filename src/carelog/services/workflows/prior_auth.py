"""Prior authorization's own use cases beside the shared ones: the tenant's payer table and
the CMS-0057-F metrics, folded from the log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from carelog.domain.audit import AuditAction
from carelog.domain.workflows import prior_auth
from carelog.domain.workflows.payers import StoredPayer
from carelog.domain.workflows.prior_auth_metrics import metrics as fold_metrics
from carelog.domain.workflows.prior_auth_rules import APPROVALS
from carelog.errors import NotFound
from carelog.services.audit import record_success
from carelog.services.unit import Work
from carelog.services.workflows.access import utc, visibility
from carelog.services.workflows.cases import take_action
from carelog.storage import payers as store
from carelog.storage import workflows as workflow_store


async def get_payer(work: Work, payer_id: str) -> StoredPayer:
    """The payer's rules; 404 when the tenant's table has no such payer."""
    found = await store.get_payer(
        await work.connection(), tenant_id=work.access.tenant_id, payer_id=payer_id
    )
    if found is None:
        raise NotFound("The payer table has no payer with that id.")
    await record_success(work, AuditAction.READ, patient_id=None, event_ids=[])
    return found


async def put_payer(
    work: Work, payer_id: str, rules: Mapping[str, Any], *, now: datetime
) -> StoredPayer:
    """Set the payer's rules (the whole row); cases opened from now on take them."""
    async with work.transaction():
        stored = await store.put_payer(
            await work.connection(), tenant_id=work.access.tenant_id, payer_id=payer_id,
            rules=rules, updated_at=utc(now), updated_by=work.access.principal.name,
        )  # fmt: skip
        await record_success(work, AuditAction.UPDATE, patient_id=None, event_ids=[])
    return stored


@dataclass(frozen=True, slots=True)
class PayerPage:
    payers: list[StoredPayer]
    next_after: str | None


async def list_payers(work: Work, *, after: str | None, limit: int) -> PayerPage:
    """A page of the tenant's payers in id order."""
    found = await store.list_payers(
        await work.connection(), tenant_id=work.access.tenant_id, after=after, limit=limit + 1
    )
    await record_success(work, AuditAction.SEARCH, patient_id=None, event_ids=[])
    page = found[:limit]
    return PayerPage(page, page[-1].payer_id if len(found) > limit else None)


async def expire_lapsed(work: Work, *, now: datetime) -> list[str]:
    """Take ``expire`` on every approval of the tenant whose valid-until date has passed
    (each its own transition, audited); the ids of the cases expired."""
    today = utc(now).date().isoformat()
    lapsed = await workflow_store.lapsed_cases(
        await work.connection(), tenant_id=work.access.tenant_id,
        workflow=prior_auth.WORKFLOW.name, states=sorted(APPROVALS),
        path=["authorization", "valid_until"], today=today,
    )  # fmt: skip
    expired = []
    for case_id in lapsed:
        result = await take_action(
            work, prior_auth.WORKFLOW, case_id, prior_auth.Expire(action="expire"), now=now
        )
        expired.append(result.case.case_id)
    return expired


async def metrics(
    work: Work, *, since: datetime, until: datetime, payer_id: str | None
) -> dict[str, Any]:
    """The CMS-0057-F figures per urgency over the decisions in ``[since, until)`` of the
    cases the caller may see (see :mod:`carelog.domain.workflows.prior_auth_metrics`);
    audited as a search of the decision events it counted."""
    cases = await workflow_store.decided_transitions(
        await work.connection(), seen_by=visibility(work), workflow=prior_auth.WORKFLOW.name,
        since=utc(since), until=utc(until),
    )  # fmt: skip
    figures = fold_metrics(cases.values(), since=since, until=until, payer_id=payer_id)
    counted = [
        record.event_id
        for records in cases.values()
        for record in records
        if record.action == "respond" and since <= record.occurred_at < until
    ]
    await record_success(work, AuditAction.SEARCH, patient_id=None, event_ids=counted)
    return figures
