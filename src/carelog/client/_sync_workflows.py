# Generated from its _async twin by scripts/generate_sync_client.py: do not edit.
"""The synchronous client's methods on workflows, payers and webhook subscriptions.

This file is made from its ``_async`` twin by ``scripts/generate_sync_client.py``: edit the
async ones, then run it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from carelog.client._core import (
    Call,
    case_id_of,
    etag_version,
)
from carelog.client._sync_base import WORKFLOWS, Workflow, _params, _SyncBase
from carelog.domain.subscriptions import (
    Delivery,
    Subscription,
    SubscriptionCreate,
    SubscriptionCreated,
)
from carelog.domain.workflows.definition import CaseView


class _SyncWorkflows(_SyncBase):
    """The three workflows, prior authorization's payers and metrics, escalation targets,
    the event-type policy and webhook subscriptions."""

    # -- workflows

    def open_case(
        self,
        workflow: Workflow,
        body: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> CaseView:
        """Open a case of ``workflow`` (``escalation``, ``prior_auth``, ``care_task``)."""
        path, view = WORKFLOWS[workflow]
        call = Call.write("POST", path, json=dict(body), idempotency_key=idempotency_key)
        return view.model_validate_json((self.send(call)).content)

    def act(
        self,
        workflow: Workflow,
        case: CaseView | Mapping[str, Any] | str,
        action: str,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> CaseView:
        """Take ``action`` on ``case``. Given the case as read (a model or its document), the
        action carries its version as ``If-Match``: a change since is a
        ``PreconditionFailed`` (412), never a lost update. Given only its id, it carries none
        (enough for actions that only move the state; an edit is then 428)."""
        path, view = WORKFLOWS[workflow]
        if isinstance(case, CaseView):
            case = case.model_dump(mode="json")
        if_match = None if isinstance(case, str) else etag_version(case)
        headers = {} if if_match is None else {"If-Match": if_match}
        url = f"{path}/{case_id_of(case)}/actions"
        call = Call.write(
            "POST",
            url,
            json={"action": action, **fields},
            idempotency_key=idempotency_key,
            headers=headers,
        )
        return view.model_validate_json((self.send(call)).content)

    def get_case(self, workflow: Workflow, case_id: str) -> CaseView:
        """One case with its timeline."""
        path, view = WORKFLOWS[workflow]
        response = self.send(Call("GET", f"{path}/{case_id}"))
        return view.model_validate_json(response.content)

    def list_cases(
        self,
        workflow: Workflow,
        *,
        status: Sequence[str] | None = None,
        overdue: bool | None = None,
        patient_id: str | None = None,
        limit: int | None = None,
        **filters: str,
    ) -> Iterator[CaseView]:
        """The workflow's queue in order, every page (``assignee=``, ``payer=`` filters)."""
        path, view = WORKFLOWS[workflow]
        params = _params(
            status=status, overdue=overdue, patient_id=patient_id, limit=limit, **filters
        )
        for item in self._pages(path, params):
            yield view.model_validate(item)

    def prior_auth_metrics(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        payer: str | None = None,
    ) -> dict[str, Any]:
        """The CMS-0057-F figures per urgency (``GET /prior-auth-cases/metrics``)."""
        params = _params(since=since, until=until, payer=payer)
        found: dict[str, Any] = (
            self.send(Call("GET", "/prior-auth-cases/metrics", params=params))
        ).json()
        return found

    def put_payer(self, payer_id: str, rules: Mapping[str, Any]) -> dict[str, Any]:
        """Set a payer's row of the tenant's payer table (``admin``)."""
        found: dict[str, Any] = (
            self.send(Call("PUT", f"/payers/{payer_id}", json=dict(rules)))
        ).json()
        return found

    def get_payer(self, payer_id: str) -> dict[str, Any]:
        """A payer's row: what needs prior authorization with it, and what each requires."""
        found: dict[str, Any] = (self.send(Call("GET", f"/payers/{payer_id}"))).json()
        return found

    def list_payers(self, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """The tenant's payer table, every page."""
        yield from self._pages("/payers", _params(limit=limit))

    def escalation_targets(self) -> dict[str, int]:
        """The tenant's escalation response targets, seconds per severity."""
        found: dict[str, int] = (self.send(Call("GET", "/escalations/targets"))).json()
        return found

    def set_escalation_targets(self, **seconds: int) -> dict[str, int]:
        """Set response targets (``emergent=900, urgent=7200...``; ``admin``)."""
        call = Call("PUT", "/escalations/targets", json=seconds)
        found: dict[str, int] = (self.send(call)).json()
        return found

    def set_event_type_policy(self, *, reject_unregistered: bool) -> dict[str, Any]:
        """Whether the tenant refuses event types it has not registered (``admin``)."""
        body = {"reject_unregistered": reject_unregistered}
        found: dict[str, Any] = (self.send(Call("PUT", "/event-type-policy", json=body))).json()
        return found

    # -- webhooks

    def create_subscription(
        self,
        url: str,
        *,
        patient_ids: Sequence[str] | None = None,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
    ) -> SubscriptionCreated:
        """Subscribe ``url`` to the tenant's events (``admin``); the answer holds the signing
        secret, shown this once."""
        body = SubscriptionCreate.model_validate(
            {
                "url": url,
                "patient_ids": patient_ids,
                "event_types": event_types,
                "description": description,
            }
        ).model_dump(mode="json", exclude_none=True)
        response = self.send(Call.write("POST", "/subscriptions", json=body))
        return SubscriptionCreated.model_validate_json(response.content)

    def subscriptions(self) -> list[Subscription]:
        """The tenant's subscriptions (never their secrets)."""
        response = self.send(Call("GET", "/subscriptions"))
        return [Subscription.model_validate(item) for item in response.json()]

    def deactivate_subscription(self, subscription_id: str) -> Subscription:
        """Stop a subscription's deliveries (it stays on the record)."""
        response = self.send(Call("DELETE", f"/subscriptions/{subscription_id}"))
        return Subscription.model_validate_json(response.content)

    def deliveries(self, subscription_id: str, *, limit: int | None = None) -> Iterator[Delivery]:
        """A subscription's deliveries, newest first, with their attempts; every page."""
        path = f"/subscriptions/{subscription_id}/deliveries"
        for item in self._pages(path, _params(limit=limit)):
            yield Delivery.model_validate(item)

    def replay_delivery(self, subscription_id: str, delivery_id: int) -> Delivery:
        """Send a dead letter again."""
        path = f"/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay"
        response = self.send(Call("POST", path))
        return Delivery.model_validate_json(response.content)
