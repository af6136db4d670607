"""Record and read patient events for an authenticated principal, always within its tenant."""

from carelog.services.patient_events.batch import (
    BatchRecorded,
    ReadBatch,
    read_batch,
    record_batch,
)
from carelog.services.patient_events.read import (
    CODE_SYSTEMS,
    EventPage,
    get_event,
    list_events,
    search_events,
)
from carelog.services.patient_events.record import (
    Recorded,
    find_replay,
    record_event,
    record_system_event,
)
from carelog.services.patient_events.revise import AMENDED, RETRACTED, revise_event

__all__ = [
    "AMENDED",
    "CODE_SYSTEMS",
    "RETRACTED",
    "BatchRecorded",
    "EventPage",
    "ReadBatch",
    "Recorded",
    "find_replay",
    "get_event",
    "list_events",
    "read_batch",
    "record_batch",
    "record_event",
    "record_system_event",
    "revise_event",
    "search_events",
]
