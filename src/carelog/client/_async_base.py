"""What every method of the asynchronous client stands on: the connection, the retrying
``send``, the pages.

``_sync*.py`` are made from these files by ``scripts/generate_sync_client.py``: edit the
async ones, then run it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, Literal, Self

import httpx

from carelog.client._core import (
    Call,
    RetryPolicy,
    next_page,
    problem_error,
    retry_after,
    retryable,
)
from carelog.domain.workflows.care_tasks import CareTaskView
from carelog.domain.workflows.definition import CaseView
from carelog.domain.workflows.escalations import EscalationView
from carelog.domain.workflows.prior_auth_fields import PriorAuthView

# Each workflow's path and the model of its cases.
WORKFLOWS: dict[str, tuple[str, type[CaseView]]] = {
    "escalation": ("/escalations", EscalationView),
    "prior_auth": ("/prior-auth-cases", PriorAuthView),
    "care_task": ("/care-tasks", CareTaskView),
}
Workflow = Literal["escalation", "prior_auth", "care_task"]


def _params(**values: Any) -> list[tuple[str, Any]]:
    """Query parameters without the unset ones; a list value repeats its name."""
    found: list[tuple[str, Any]] = []
    for name, value in values.items():
        if value is None:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, datetime):
                item = item.isoformat()
            found.append((name, item))
    return found


class _AsyncBase:
    """The connection and the retrying ``send`` (see :class:`AsyncClient`)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", **(headers or {})},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call) -> httpx.Response:
        """Send ``call``, retrying per the policy; the answer, or the problem as an exception."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    json=call.json,
                    content=call.content,
                    headers=dict(call.headers),
                )
            except httpx.TransportError:
                if attempt >= self.retry.attempts:
                    raise
            else:
                if response.is_success:
                    return response
                if not retryable(response) or attempt >= self.retry.attempts:
                    raise problem_error(response)
                wait = retry_after(response)
            delay = self.retry.backoff(attempt, wait)
            if time.monotonic() - started + delay > self.retry.total:
                if wait is not None:
                    raise problem_error(response)
                raise httpx.TimeoutException("retries ran out of time")
            await asyncio.sleep(delay)

    async def _pages(
        self, path: str, params: list[tuple[str, Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        """Each item of every page, the next one from the ``Link`` of the last."""
        call = Call("GET", path, params=params)
        while True:
            response = await self.send(call)
            for item in response.json():  # noqa: RUF100, UP028 (no yield from in async)
                yield item
            following = next_page(response)
            if following is None:
                return
            call = Call("GET", following)
