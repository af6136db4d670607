"""Audit rows as FHIR R4 AuditEvent resources (pure mapping)."""

from __future__ import annotations

from typing import Any

from carelog.domain.audit import AuditAction, AuditEvent, AuditOutcome

_ACTION = {
    AuditAction.CREATE: "C",
    AuditAction.READ: "R",
    AuditAction.SEARCH: "E",  # FHIR codes a search as Execute (subtype search-type)
    AuditAction.UPDATE: "U",
    AuditAction.EXECUTE: "E",
}
_INTERACTION = {
    AuditAction.CREATE: "create",
    AuditAction.READ: "read",
    AuditAction.SEARCH: "search-type",
    AuditAction.UPDATE: "update",
    AuditAction.EXECUTE: "operation",
}
_OUTCOME = {AuditOutcome.SUCCESS: "0", AuditOutcome.DENIED: "4", AuditOutcome.FAILED: "8"}
# How many attempts a counted row stands for (FHIR R4 AuditEvent has no element for it).
ATTEMPTS_EXTENSION = "urn:carelog:fhir:StructureDefinition:audit-attempts"


def to_fhir(event: AuditEvent) -> dict[str, Any]:
    """One audit row as a FHIR R4 AuditEvent."""
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                    "code": "humanuser" if event.principal_kind == "user" else "dataprocessor",
                }
            ]
        },
        "who": {"identifier": {"value": event.principal_id or "unauthenticated"}},
        "requestor": True,
    }
    if event.agent_name:
        agent["name"] = event.agent_name
    if event.client_address:
        agent["network"] = {"address": event.client_address, "type": "2"}
    if event.purpose_of_use:
        agent["purposeOfUse"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                        "code": event.purpose_of_use,
                    }
                ]
            }
        ]
    entities: list[dict[str, Any]] = []
    if event.patient_id:
        entities.append(
            {
                "what": {"identifier": {"value": event.patient_id}},
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "1",
                    "display": "Person",
                },
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "1",
                    "display": "Patient",
                },
            }
        )
    entities.extend(
        {"what": {"identifier": {"system": "urn:carelog:event", "value": str(event_id)}}}
        for event_id in event.event_ids
    )
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": event.id,
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [
            {
                "system": "http://hl7.org/fhir/restful-interaction",
                "code": _INTERACTION[event.action],
            }
        ],
        "action": _ACTION[event.action],
        "recorded": event.recorded_at.isoformat(),
        "outcome": _OUTCOME[event.outcome],
        "agent": [agent],
        "source": {
            "observer": {"display": "Carelog"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
    }
    if event.break_glass:
        resource["purposeOfEvent"] = [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG"}
                ]
            }
        ]
    if entities:
        resource["entity"] = entities
    details = [f"status={event.status}"] if event.status else []
    if event.request_id:
        details.append(f"request={event.request_id}")
    if event.first_attempt_at is not None and event.last_attempt_at is not None:
        # A counted row: the attempts it stands for, and when they happened.
        resource["period"] = {
            "start": event.first_attempt_at.isoformat(),
            "end": event.last_attempt_at.isoformat(),
        }
        resource["extension"] = [{"url": ATTEMPTS_EXTENSION, "valueInteger": event.attempts}]
        details.append(f"attempts={event.attempts}")
    if details:
        resource["outcomeDesc"] = " ".join(details)
    return resource


def to_bundle(events: list[AuditEvent]) -> dict[str, Any]:
    """A FHIR searchset Bundle of AuditEvents."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(events),
        "entry": [{"resource": to_fhir(event)} for event in events],
    }
