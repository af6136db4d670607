# Generated from its _async twin by scripts/generate_sync_client.py: do not edit.
"""The synchronous client's methods on the patient record: events, search, context, event
types, FHIR, live events, audit.

This file is made from its ``_async`` twin by ``scripts/generate_sync_client.py``: edit the
async ones, then run it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from carelog.client._core import (
    Call,
    ended_error,
    problem_error,
)
from carelog.client._sync_base import _params, _SyncBase
from carelog.domain.audit import AuditEvent, ChainReport
from carelog.domain.context.model import PatientContext
from carelog.domain.events import (
    CorrectionCreate,
    PatientEvent,
    PatientEventCreate,
    RetractionCreate,
)


class _SyncRecords(_SyncBase):
    """Events, search, context, event types, FHIR, live events and audit."""

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
