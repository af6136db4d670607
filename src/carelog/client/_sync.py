# Generated from _async.py by scripts/generate_sync_client.py: do not edit by hand.
"""The synchronous client: every route of the API as a typed method (the pydantic models the
API itself answers with), writes made safe to retry, pages followed.

This file is made from ``_async.py`` by ``scripts/generate_sync_client.py``: edit that one,
then run it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import httpx

from carelog.client._core import (
    Call,
    RetryPolicy,
    case_id_of,
    ended_error,
    etag_version,
    next_page,
    problem_error,
    retry_after,
    retryable,
)
from carelog.domain.audit import AuditEvent, ChainReport
from carelog.domain.context.model import PatientContext
from carelog.domain.events import (
    CorrectionCreate,
    PatientEvent,
    PatientEventCreate,
    RetractionCreate,
)
from carelog.domain.subscriptions import (
    Delivery,
    Subscription,
    SubscriptionCreate,
    SubscriptionCreated,
)
from carelog.domain.workflows.care_tasks import CareTaskView
from carelog.domain.workflows.definition import CaseView
from carelog.domain.workflows.escalations import EscalationView
from carelog.domain.workflows.prior_auth_fields import PriorAuthView

# Each workflow's path and the model of its cases.
WORKFLOWS: dict[str, tuple[str, type[CaseView]]] = {
    "escalation": ("/escalations", EscalationView),
    "prior_auth": ("/prior-auth-cases", PriorAuthView),
    "care_task": ("/care-tasks", CareTaskView),
}
Workflow = Literal["escalation", "prior_auth", "care_task"]


def _params(**values: Any) -> list[tuple[str, Any]]:
    """Query parameters without the unset ones; a list value repeats its name."""
    found: list[tuple[str, Any]] = []
    for name, value in values.items():
        if value is None:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, datetime):
                item = item.isoformat()
            found.append((name, item))
    return found


class Client:
    """A Carelog client: ``with Client(url, api_key) as carelog: ...``.

    Errors are the server's own exception classes (:mod:`carelog.errors`: ``NotFound``,
    ``ValidationFailed`` with ``errors``, ``TransitionNotAllowed``...), each with ``status``,
    ``code`` and the whole ``problem``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", **(headers or {})},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call) -> httpx.Response:
        """Send ``call``, retrying per the policy; the answer, or the problem as an exception."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    json=call.json,
                    content=call.content,
                    headers=dict(call.headers),
                )
            except httpx.TransportError:
                if attempt >= self.retry.attempts:
                    raise
            else:
                if response.is_success:
                    return response
                if not retryable(response) or attempt >= self.retry.attempts:
                    raise problem_error(response)
                wait = retry_after(response)
            delay = self.retry.backoff(attempt, wait)
            if time.monotonic() - started + delay > self.retry.total:
                if wait is not None:
                    raise problem_error(response)
                raise httpx.TimeoutException("retries ran out of time")
            time.sleep(delay)

    # -- events

    def record_event(
        self, event: PatientEventCreate | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> PatientEvent:
        """Record one event (``POST /patient-events``)."""
        body = PatientEventCreate.model_validate(event).model_dump(mode="json", exclude_none=True)
        call = Call.write("POST", "/patient-events", json=body, idempotency_key=idempotency_key)
        return PatientEvent.model_validate_json((self.send(call)).content)

    def record_events(
        self, events: Sequence[PatientEventCreate | Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Record many events in one transaction (``POST /patient-events/batch``)."""
        # A mapping is sent as it is (it may carry its own idempotency_key).
        body = [
            e.model_dump(mode="json", exclude_none=True)
            if isinstance(e, PatientEventCreate)
            else dict(e)
            for e in events
        ]
        call = Call.write("POST", "/patient-events/batch", json=body)
        result: dict[str, Any] = (self.send(call)).json()
        return result

    def get_event(self, event_id: int) -> PatientEvent:
        """One event by id (``GET /events/{id}``)."""
        response = self.send(Call("GET", f"/events/{event_id}"))
        return PatientEvent.model_validate_json(response.content)

    def list_events(
        self,
        patient_id: str,
        *,
        event_type: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        history: bool | None = None,
        as_of: datetime | None = None,
    ) -> Iterator[PatientEvent]:
        """Every event of the patient that matches, following the ``Link`` pages."""
        params = _params(
            event_type=event_type,
            since=since,
            until=until,
            limit=limit,
            history=history,
            as_of=as_of,
        )
        for item in self._pages(f"/patient-events/{patient_id}", params):
            yield PatientEvent.model_validate(item)

    def correct_event(
        self,
        event_id: int,
        payload: Mapping[str, Any],
        reason: str,
        *,
        idempotency_key: str | None = None,
    ) -> PatientEvent:
        """Correct an event: its new version (``POST /events/{id}/corrections``)."""
        body = CorrectionCreate.model_validate({"payload": payload, "reason": reason})
        call = Call.write(
            "POST",
            f"/events/{event_id}/corrections",
            json=body.model_dump(mode="json"),
            idempotency_key=idempotency_key,
        )
        return PatientEvent.model_validate_json((self.send(call)).content)

    def retract_event(
        self, event_id: int, reason: str, *, idempotency_key: str | None = None
    ) -> PatientEvent:
        """Retract an event entered in error (``POST /events/{id}/retractions``)."""
        body = RetractionCreate.model_validate({"reason": reason}).model_dump(mode="json")
        call = Call.write(
            "POST", f"/events/{event_id}/retractions", json=body, idempotency_key=idempotency_key
        )
        return PatientEvent.model_validate_json((self.send(call)).content)

    def search(
        self,
        q: str | None = None,
        *,
        code: str | None = None,
        patient_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[PatientEvent]:
        """Events whose notes match ``q`` or whose coding is ``code`` (``GET /search``)."""
        params = _params(q=q, code=code, patient_id=patient_id, limit=limit)
        for item in self._pages("/search", params):
            yield PatientEvent.model_validate(item)

    # -- context

    def get_context(
        self,
        patient_id: str,
        *,
        max_tokens: int | None = None,
        types: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        as_of: datetime | None = None,
    ) -> PatientContext:
        """The patient's context as JSON sections, each line citing its events."""
        params = _params(max_tokens=max_tokens, types=types, since=since, until=until, as_of=as_of)
        response = self.send(Call("GET", f"/patients/{patient_id}/context", params=params))
        return PatientContext.model_validate_json(response.content)

    def get_context_markdown(
        self, patient_id: str, *, max_tokens: int | None = None, as_of: datetime | None = None
    ) -> str:
        """The patient's context as Markdown, for a model's prompt."""
        params = _params(format="markdown", max_tokens=max_tokens, as_of=as_of)
        response = self.send(Call("GET", f"/patients/{patient_id}/context", params=params))
        return response.text

    # -- event types

    def event_types(self) -> dict[str, Any]:
        """The built-in and the tenant's registered event types (``GET /event-types``)."""
        found: dict[str, Any] = (self.send(Call("GET", "/event-types"))).json()
        return found

    def register_event_type(
        self, event_type: str, schema: Mapping[str, Any], *, description: str | None = None
    ) -> dict[str, Any]:
        """Register (or replace) the tenant's JSON Schema of ``event_type`` (``admin``)."""
        body = {"schema": dict(schema), **({"description": description} if description else {})}
        found: dict[str, Any] = (
            self.send(Call("PUT", f"/event-types/{event_type}", json=body))
        ).json()
        return found

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

    # -- FHIR

    def fhir_import(self, bundle: Mapping[str, Any]) -> dict[str, Any]:
        """Import a FHIR R4 Bundle (``POST /fhir``): its per-entry outcome."""
        call = Call.write("POST", "/fhir", json=dict(bundle))
        found: dict[str, Any] = (self.send(call)).json()
        return found

    def fhir_import_ndjson(self, resources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Import FHIR R4 resources as Bulk Data NDJSON (``POST /fhir/$import``)."""
        content = "\n".join(json.dumps(r, separators=(",", ":")) for r in resources).encode()
        call = Call.write(
            "POST",
            "/fhir/$import",
            content=content,
            headers={"Content-Type": "application/fhir+ndjson"},
        )
        found: dict[str, Any] = (self.send(call)).json()
        return found

    def patient_fhir(self, patient_id: str, *, as_of: datetime | None = None) -> dict[str, Any]:
        """The patient's current events as a FHIR R4 Bundle."""
        call = Call("GET", f"/patients/{patient_id}/fhir", params=_params(as_of=as_of))
        found: dict[str, Any] = (self.send(call)).json()
        return found

    def fhir_export(
        self, *, types: Sequence[str] | None = None, since: datetime | None = None
    ) -> str:
        """Start a Bulk Data export; the status URL to poll (:meth:`fhir_export_status`)."""
        params = _params(_type=",".join(types) if types else None, _since=since)
        call = Call("GET", "/fhir/$export", params=params, headers={"Prefer": "respond-async"})
        return (self.send(call)).headers["Content-Location"]

    def fhir_export_status(self, status_url: str) -> dict[str, Any] | None:
        """The export's manifest once it is done; None while it runs."""
        response = self.send(Call("GET", status_url))
        if response.status_code == 202:
            return None
        found: dict[str, Any] = response.json()
        return found

    def fhir_export_file(self, url: str) -> str:
        """One NDJSON file of a finished export's manifest."""
        return (self.send(Call("GET", url))).text

    # -- live events

    def stream_events(
        self,
        *,
        patient_id: Sequence[str] | None = None,
        event_type: Sequence[str] | None = None,
        last_event_id: str | None = None,
    ) -> Iterator[tuple[str, PatientEvent]]:
        """Live events (``GET /patient-events/stream``), each with its position in the log,
        for as long as the caller reads. A dropped connection is opened again with the last
        position as ``Last-Event-ID`` (within the retry policy's tries), so nothing is lost
        or repeated; a stream the service ends (the key revoked) raises ``Unauthenticated``."""
        params = _params(patient_id=patient_id, event_type=event_type)
        position = last_event_id
        attempt = 0
        while True:
            headers = {} if position is None else {"Last-Event-ID": position}
            timeout = httpx.Timeout(self._http.timeout.connect, read=None)
            try:
                with self._http.stream(
                    "GET",
                    "/patient-events/stream",
                    params=params,
                    headers=headers,
                    timeout=timeout,
                ) as response:
                    if not response.is_success:
                        response.read()
                        raise problem_error(response)
                    attempt = 0
                    event: dict[str, Any] = {}
                    for line in response.iter_lines():
                        if line:
                            name, _, value = line.partition(":")
                            value = value.removeprefix(" ")
                            # (SSE: the lines of one event's data are joined by newlines)
                            event[name] = f"{event[name]}\n{value}" if name in event else value
                            continue
                        if event.get("event") == "patient_event" and "id" in event:
                            position = event["id"]
                            yield position, PatientEvent.model_validate_json(event["data"])
                        elif "data" in event and event.get("event"):
                            raise ended_error(event["event"], event["data"])
                        event = {}
            except httpx.TransportError:
                attempt += 1
                if attempt >= self.retry.attempts:
                    raise
                time.sleep(self.retry.backoff(attempt, None))

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

    # -- audit

    def audit_events(
        self,
        *,
        patient_id: str | None = None,
        principal_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[AuditEvent]:
        """The tenant's audit trail (``audit:read``), every page."""
        params = _params(
            patient_id=patient_id, principal_id=principal_id, since=since, until=until, limit=limit
        )
        for item in self._pages("/audit-events", params):
            yield AuditEvent.model_validate(item)

    def verify_audit(self) -> ChainReport:
        """Check the tenant's hash chains end to end."""
        response = self.send(Call("GET", "/audit-events/verify"))
        return ChainReport.model_validate_json(response.content)

    # -- pages

    def _pages(self, path: str, params: list[tuple[str, Any]]) -> Iterator[dict[str, Any]]:
        """Each item of every page, the next one from the ``Link`` of the last."""
        call = Call("GET", path, params=params)
        while True:
            response = self.send(call)
            for item in response.json():  # noqa: RUF100, UP028 (no yield from in async)
                yield item
            following = next_page(response)
            if following is None:
                return
            call = Call("GET", following)


__all__ = ["WORKFLOWS", "Client", "Workflow"]
