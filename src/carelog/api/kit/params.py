"""Parameters several routes take, and the 422 of a parameter a route checks itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header
from pydantic import StringConstraints

from carelog.domain.limits import EVENT_TYPE_PATTERN, IDEMPOTENCY_KEY_PATTERN
from carelog.errors import ValidationFailed

EventTypeParam = Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN)]
# Every write's retry key (POST /patient-events, the workflows' opens and actions).
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Retries with the same key and body return the first response.",
    ),
]


def invalid_parameter(field: str, message: str, kind: str = "value_error") -> ValidationFailed:
    """The 422 of a query parameter that passed its schema but not the route's own rule."""
    return ValidationFailed(
        f"Invalid value for: {field}.",
        errors=[{"field": field, "location": "query", "message": message, "type": kind}],
    )
