"""Storage of patient events. Functions take a connection first and never commit."""

from carelog.storage.patient_events.context import (
    CONTEXT_PLAN,
    ContextCandidates,
    SentCandidates,
    context_candidates,
)
from carelog.storage.patient_events.reads import (
    count_withheld,
    export_events,
    export_patient_links,
    export_patients,
    export_versions,
    get_event,
    list_events,
    patient_has_events,
    patient_record,
    search_events,
)
from carelog.storage.patient_events.writes import (
    IdempotentReplay,
    RevisionTarget,
    current_version,
    get_idempotent_event,
    get_revision_target,
    insert_event,
    insert_event_idempotent,
    insert_revision,
)

__all__ = [
    "CONTEXT_PLAN",
    "ContextCandidates",
    "IdempotentReplay",
    "RevisionTarget",
    "SentCandidates",
    "context_candidates",
    "count_withheld",
    "current_version",
    "export_events",
    "export_patient_links",
    "export_patients",
    "export_versions",
    "get_event",
    "get_idempotent_event",
    "get_revision_target",
    "insert_event",
    "insert_event_idempotent",
    "insert_revision",
    "list_events",
    "patient_has_events",
    "patient_record",
    "search_events",
]
