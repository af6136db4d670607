"""The event type catalogue: which types are validated, and against what."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from carelog.api.deps import EventsRead, audited
from carelog.api.problems import problem_responses
from carelog.domain.audit import AuditAction
from carelog.domain.clinical import describe_event_types

router = APIRouter(tags=["events"], responses=problem_responses(401, 403, 500, 503))


@router.get("/event-types")
@audited(AuditAction.READ)
async def list_event_types(caller: EventsRead) -> dict[str, Any]:
    """Every known event type with the JSON Schema its payload must match. Any other type
    is accepted as free JSON."""
    return {"types": describe_event_types(), "other_types": "free JSON object"}
