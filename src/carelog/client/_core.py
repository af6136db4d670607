"""What the async and the sync client share, free of I/O: the retry policy, the request a
method sends, and how an answer becomes a result or an exception of the one error
hierarchy (:mod:`carelog.errors`, the server's own classes and codes)."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from carelog import errors
from carelog.domain.subscriptions import WebhookTargetRefused
from carelog.domain.workflows import machine, prior_auth_rules
from carelog.domain.workflows.prior_auth import AlreadyExtended

# Answers worth another try: the service is busy or unreachable, or asks to slow down.
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of connection errors, timeouts, 503 and 429, with exponential backoff and
    full jitter, never more than ``attempts`` tries nor past ``total`` seconds in all (a
    ``Retry-After`` that would end past it is not waited for). Other 4xx are never retried.
    Every write carries an Idempotency-Key, the same on every try, so a retried write that
    had reached the service is answered, not done twice."""

    attempts: int = 5
    base: float = 0.25
    cap: float = 8.0
    total: float = 30.0

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        jittered = random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))
        return max(jittered, retry_after or 0.0)


@dataclass(frozen=True, slots=True)
class Call:
    """One request a client method makes: a write gets its Idempotency-Key here, once, so
    every retry of it sends the same."""

    method: str
    path: str
    params: Mapping[str, Any] | list[tuple[str, Any]] | None = None
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def write(
        cls,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Call:
        key = idempotency_key or f"sdk-{uuid.uuid4()}"
        sent = {"Idempotency-Key": key, **(headers or {})}
        return cls(method, path, json=json, content=content, headers=sent)


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a ``Retry-After`` header asks for (a number or an HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def retryable(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def _classes() -> dict[str, type[errors.CarelogError]]:
    """The error classes by code: the shared hierarchy's (carelog.errors and the domain's,
    never a server layer's own), the most general class of a code first."""
    found: dict[str, type[errors.CarelogError]] = {}
    queue: list[type[errors.CarelogError]] = [errors.CarelogError]
    for cls in queue:  # breadth first: a base before its subclasses
        if cls.__module__.startswith(("carelog.errors", "carelog.domain")):
            found.setdefault(cls.code, cls)
        queue.extend(cls.__subclasses__())
    return found


# The workflows' own errors are subclasses too; importing their modules registers them.
_WORKFLOW_ERRORS = (machine.TransitionNotAllowed, prior_auth_rules.RequirementsNotMet,
                    prior_auth_rules.NotExpired, AlreadyExtended,
                    WebhookTargetRefused)  # fmt: skip


def problem_error(response: httpx.Response) -> errors.CarelogError:
    """The exception of a problem answer: the class of its ``code`` (the server's), else the
    nearest by status, carrying ``detail``, ``errors`` and the other members."""
    try:
        problem: dict[str, Any] = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    classes = _classes()
    cls = classes.get(str(problem.get("code")))
    if cls is None:
        by_status = [c for c in classes.values() if c.status == response.status_code]
        cls = by_status[0] if by_status else errors.CarelogError
    known = {"type", "title", "status", "detail", "code", "errors", "instance", "request_id"}
    error = cls.__new__(cls)
    errors.CarelogError.__init__(
        error,
        str(problem.get("detail") or response.reason_phrase or cls.title),
        errors=problem.get("errors"),
        headers=dict(response.headers),
        extensions={k: v for k, v in problem.items() if k not in known},
    )
    error.status = response.status_code
    error.code = str(problem.get("code") or cls.code)
    error.problem = problem  # type: ignore[attr-defined]
    return error


def ended_error(reason: str, data: str) -> errors.CarelogError:
    """The exception of a stream the service ended (its last SSE event): ``revoked`` is
    ``Unauthenticated``; another reason the base class, with the service's detail."""
    try:
        body = json.loads(data)
    except ValueError:
        body = {}
    detail = str(body.get("detail") or f"The stream ended: {reason}.")
    error = errors.Unauthenticated(detail) if reason == "revoked" else errors.CarelogError(detail)
    error.code = str(body.get("code") or reason)
    return error


_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def next_page(response: httpx.Response) -> str | None:
    """The next page's path and query from a ``Link`` header, if there is one."""
    found = _NEXT.search(response.headers.get("Link", ""))
    return None if found is None else found[1]


def etag_version(document: Mapping[str, Any] | int | None) -> str | None:
    """The If-Match of a case the caller read (its document or its version), if given."""
    if document is None:
        return None
    version = document if isinstance(document, int) else document.get("version")
    return None if version is None else f'"{version}"'


def case_id_of(case: Mapping[str, Any] | str) -> str:
    return case if isinstance(case, str) else str(case["id"])
