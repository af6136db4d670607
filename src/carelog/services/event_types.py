"""Event types: the built-in clinical kinds, and the types each tenant registers."""

from __future__ import annotations

from typing import Any

from carelog.domain.clinical import (
    EVENT_TYPES,
    SYSTEM_EVENT_TYPES,
    check_payload,
    describe_event_types,
)
from carelog.domain.tenant_schemas import check_against_schema, check_schema
from carelog.errors import Conflict, ValidationFailed
from carelog.services.unit import Work
from carelog.storage import event_types as type_store
from carelog.storage.db import Connection


async def check_event(
    conn: Connection,
    tenant_id: str,
    event_type: str,
    payload: dict[str, Any],
    *,
    model_checked: bool = False,
) -> None:
    """Validate a payload: built-in kinds by their models, registered types by their JSON
    Schema; other types are free JSON unless the tenant refuses unregistered types. Only a
    type that is not built in costs a query. A type only the service writes (a workflow's
    transition) is refused: a client cannot forge, correct or retract one. With
    ``model_checked`` the payload has passed its built-in model already (a FHIR import's
    mapping checks it as it reads), and is not checked by it again."""
    if event_type in SYSTEM_EVENT_TYPES:
        raise ValidationFailed(
            f"Events of type '{event_type}' are written by the service itself.",
            errors=[
                {
                    "field": "event_type",
                    "location": "body",
                    "message": "use the workflow's routes (/escalations, ...) instead",
                    "type": "reserved_event_type",
                }
            ],
        )
    if event_type in EVENT_TYPES:
        if not model_checked:
            check_payload(event_type, payload)
        return
    schema, reject = await type_store.event_type_rule(
        conn, tenant_id=tenant_id, event_type=event_type
    )
    if schema is not None:
        check_against_schema(event_type, schema, payload)
    elif reject:
        raise ValidationFailed(
            f"Event type '{event_type}' is not registered for this tenant.",
            errors=[
                {
                    "field": "event_type",
                    "location": "body",
                    "message": "register it with PUT /event-types/{event_type} first",
                    "type": "unregistered_event_type",
                }
            ],
        )


async def register(
    work: Work, event_type: str, description: str, schema: dict[str, Any]
) -> dict[str, Any]:
    """Register (or replace) one of the tenant's event types, once its schema passes every
    check a write will rely on (see ``tenant_schemas``): a bad one is 422 here, not later."""
    if event_type in EVENT_TYPES:
        raise Conflict(f"'{event_type}' is a built-in type; choose another name.")
    check_schema(schema)
    return await type_store.upsert_event_type(
        await work.connection(),
        tenant_id=work.access.tenant_id,
        event_type=event_type,
        description=description,
        schema=schema,
    )


async def catalogue(work: Work) -> dict[str, Any]:
    """Built-in types, the tenant's own, and its rule for the rest."""
    tenant_id = work.access.tenant_id
    registered = await type_store.list_event_types(await work.connection(), tenant_id=tenant_id)
    _, reject = await type_store.event_type_rule(work.conn, tenant_id=tenant_id, event_type="")
    return {
        "types": describe_event_types(),
        "tenant_types": registered,
        "other_types": "refused" if reject else "free JSON object",
    }


async def set_policy(work: Work, *, reject_unregistered: bool) -> bool:
    """Set whether the tenant refuses unregistered types (one statement)."""
    return await type_store.set_reject_unregistered(
        await work.connection(), tenant_id=work.access.tenant_id, reject=reject_unregistered
    )
