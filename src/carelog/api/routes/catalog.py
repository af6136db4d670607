"""The event type catalogue: built-in kinds, the tenant's own types, and its rule for others."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from carelog.api.deps import Admin, EventsRead, audited
from carelog.api.kit.params import EventTypeParam
from carelog.api.problems import problem_responses
from carelog.api.routing import JsonRoute
from carelog.domain.audit import AuditAction
from carelog.domain.limits import ClientText
from carelog.services import event_types as type_service

router = APIRouter(
    tags=["event types"],
    route_class=JsonRoute,
)


class EventTypeRegistration(BaseModel):
    """A tenant's own event type: its JSON Schema (Draft 2020-12) for payloads."""

    model_config = ConfigDict(extra="forbid")

    schema_: dict[str, Any] = Field(alias="schema")
    description: Annotated[ClientText, Field(max_length=500)] = ""


class EventTypePolicy(BaseModel):
    """Whether types that are neither built in nor registered are refused."""

    model_config = ConfigDict(extra="forbid")

    reject_unregistered: StrictBool


@router.get("/event-types")
@audited(AuditAction.READ)
async def list_event_types(caller: EventsRead) -> dict[str, Any]:
    """Built-in types with their JSON Schema, the tenant's registered types, and whether other
    types are accepted as free JSON."""
    async with caller.work() as work:
        return await type_service.catalogue(work)


@router.put("/event-types/{event_type}", responses=problem_responses(409))
@audited(AuditAction.UPDATE)
async def register_event_type(
    registration: EventTypeRegistration,
    caller: Admin,
    event_type: Annotated[EventTypeParam, Path()],
) -> dict[str, Any]:
    """Register or replace one of the tenant's event types (scope ``admin``)."""
    async with caller.work() as work:
        return await type_service.register(
            work, event_type, registration.description, registration.schema_
        )


@router.put("/event-type-policy")
@audited(AuditAction.UPDATE)
async def set_event_type_policy(policy: EventTypePolicy, caller: Admin) -> EventTypePolicy:
    """Refuse (or accept again) event types that are neither built in nor registered."""
    async with caller.work() as work:
        reject = await type_service.set_policy(work, reject_unregistered=policy.reject_unregistered)
    return EventTypePolicy(reject_unregistered=reject)
