"""Record and read patient events for an authenticated principal, always within its tenant."""

from carelog.services.patient_events.read import (
    CODE_SYSTEMS,
    EventPage,
    get_event,
    list_events,
    search_events,
)
from carelog.services.patient_events.record import Recorded, record_event
from carelog.services.patient_events.revise import AMENDED, RETRACTED, revise_event

__all__ = [
    "AMENDED",
    "CODE_SYSTEMS",
    "RETRACTED",
    "EventPage",
    "Recorded",
    "get_event",
    "list_events",
    "record_event",
    "revise_event",
    "search_events",
]
