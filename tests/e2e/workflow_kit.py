"""What the workflow tests share: a clock the test moves, the keys of a tenant's agents and
clinicians, and the case rows and transition events straight from the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from psycopg.rows import dict_row

from carelog.domain.principals import PrincipalKind
from carelog.storage.db import Pool, connection
from tests.factories import make_key, new_tenant

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@contextmanager
def controlled_clock(app: FastAPI) -> Iterator[Clock]:
    """The app's runtime on a :class:`Clock` for the test's duration."""
    runtime = app.state.runtime
    before = runtime.clock
    clock = Clock()
    runtime.clock = clock
    try:
        yield clock
    finally:
        runtime.clock = before


async def act(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    base: str,
    case: str,
    action: str,
    *,
    if_match: str | None = None,
    **body: Any,
) -> httpx.Response:
    """Take ``action`` on the case at ``base`` (``/escalations``), with If-Match if given."""
    sent = dict(headers) | ({"If-Match": if_match} if if_match else {})
    return await client.post(
        f"{base}/{case}/actions", json={"action": action, **body}, headers=sent
    )


READ_WRITE = ("workflows:read", "workflows:write", "events:read", "events:write")


@dataclass(frozen=True, slots=True)
class Team:
    """A tenant with an intake agent, a second agent, two clinicians and an admin."""

    tenant: str
    agent: dict[str, str]
    other_agent: dict[str, str]
    clinician: dict[str, str]
    other_clinician: dict[str, str]
    admin: dict[str, str]


async def new_team(pool: Pool) -> Team:
    tenant = new_tenant()
    return Team(
        tenant=tenant,
        agent=await make_key(pool, tenant, *READ_WRITE, kind=PrincipalKind.AGENT),
        other_agent=await make_key(pool, tenant, *READ_WRITE, kind=PrincipalKind.AGENT),
        clinician=await make_key(pool, tenant, *READ_WRITE, kind=PrincipalKind.USER),
        other_clinician=await make_key(pool, tenant, *READ_WRITE, kind=PrincipalKind.USER),
        admin=await make_key(pool, tenant, "admin", kind=PrincipalKind.USER),
    )


async def case_rows(pool: Pool, tenant: str) -> list[dict[str, Any]]:
    """The tenant's case rows, straight from the database."""
    async with connection(pool, tenant) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM workflow_cases WHERE tenant_id = %s ORDER BY opened_at, case_id",
            (tenant,),
        )
        return await cur.fetchall()


async def transition_events(pool: Pool, tenant: str) -> list[dict[str, Any]]:
    """The tenant's workflow_transition events, oldest first."""
    async with connection(pool, tenant) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM patient_events WHERE tenant_id = %s "
            "AND event_type = 'workflow_transition' ORDER BY id",
            (tenant,),
        )
        return await cur.fetchall()
