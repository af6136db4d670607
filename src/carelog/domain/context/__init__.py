"""The patient context: what an agent reads before it acts (pure; no I/O).

- ``builder``: the context as a function of events, policy and budget.
- ``sections``: what each section shows.
- ``facts``: which events are about the same allergy, condition, drug or test.
- ``model``: the context's shape and its injection-safe Markdown.
"""

from carelog.domain.context.builder import SECTIONS, build_context, current_events
from carelog.domain.context.facts import fact_key
from carelog.domain.context.model import Line, PatientContext, Section

__all__ = [
    "SECTIONS",
    "Line",
    "PatientContext",
    "Section",
    "build_context",
    "current_events",
    "fact_key",
]
