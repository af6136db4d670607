"""The Python SDK: :class:`AsyncClient` and :class:`Client` (the same methods, one made from
the other), typed with the models the API answers with, safe to retry.

    from carelog.client import Client

    with Client("http://127.0.0.1:8000", api_key) as carelog:
        event = carelog.record_event({"patient_id": "P-1", "event_type": "note",
                                      "payload": {"text": "synthetic"}})
        context = carelog.get_context_markdown("P-1", max_tokens=800)

Errors are the server's own classes (:mod:`carelog.errors`), raised with the problem's
``status``, ``code``, ``detail``, ``errors`` and ``problem``. Needs only httpx and pydantic
(``pip install carelog``): no FastAPI, no database driver.
"""

from carelog.client._async import WORKFLOWS, AsyncClient, Workflow
from carelog.client._core import RetryPolicy
from carelog.client._sync import Client
from carelog.domain.workflows.machine import TransitionNotAllowed
from carelog.errors import (
    CarelogError,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ServiceUnavailable,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)

__all__ = [
    "WORKFLOWS",
    "AsyncClient",
    "CarelogError",
    "Client",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "PreconditionRequired",
    "RetryPolicy",
    "ServiceUnavailable",
    "TooManyRequests",
    "TransitionNotAllowed",
    "Unauthenticated",
    "ValidationFailed",
    "Workflow",
]
