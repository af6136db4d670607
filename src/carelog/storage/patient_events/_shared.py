"""What the patient-event statements share: their queries, how rows become documents."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from carelog.domain.events import EventDocument
from carelog.domain.principals import Principal
from carelog.storage.queries import Queries

load = Queries("carelog.storage.patient_events")


def documents(cursor: Any) -> Callable[[Sequence[Any]], EventDocument]:
    # Positional (id, occurred_at, doc), as every event query returns them: cheaper than
    # class_row's dict per row on the hot read path.
    return lambda values: EventDocument(*values)


def labels(visible: frozenset[str] | None) -> list[str] | None:
    # None: every label is visible (no filter); a list, possibly empty: only those.
    return None if visible is None else sorted(visible)


def writer(principal: Principal) -> dict[str, Any]:
    """Who writes, as every insert's parameters name it: the principal decides the tenant
    and who is recorded, never the client's body."""
    return {
        "tenant_id": principal.tenant_id,
        "recorded_by": principal.name,
        "recorded_by_kind": principal.kind.value,
        "agent_name": principal.agent_name,
    }
