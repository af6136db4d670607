"""Corrections and retractions of many events at once, for a FHIR import's changed resources:
the events they supersede looked up in one statement (``revision_targets``), the revisions
staged with COPY in a temporary table and appended with one ``INSERT ... SELECT`` and one
audit row a patient (``insert_revisions``). The single route's ``insert_revision``, set-based.
The caller holds the transaction (the staging table lives until its commit). Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from carelog.domain.audit import AuditContext
from carelog.domain.principals import Principal
from carelog.storage.audit import Audited
from carelog.storage.patient_events._shared import labels, load, writer
from carelog.storage.patient_events.writes import RevisionTarget


@dataclass(frozen=True, slots=True)
class NewestVersion:
    """The newest version of an event's chain, and whether the principal may see it."""

    target: RevisionTarget
    visible: bool


@dataclass(frozen=True, slots=True)
class StagedRevision:
    """A correction (a new payload) or a retraction (``payload`` ``None``) of ``supersedes``,
    the newest version of its chain."""

    supersedes: int
    status: str
    reason: str
    payload: dict[str, Any] | None
    occurred_at: datetime | None


async def revision_targets(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    event_ids: Sequence[int],
    patients: frozenset[str] | None,
    visible_labels: frozenset[str] | None,
) -> dict[int, NewestVersion]:
    """For each of ``event_ids`` (of the tenant), the newest version of its chain."""
    if not event_ids:
        return {}
    cur = await conn.execute(
        load("revision_targets"),
        {
            "tenant_id": tenant_id,
            "ids": sorted(set(event_ids)),
            "patients": None if patients is None else sorted(patients),
            "visible_labels": labels(visible_labels),
        },
    )
    return {
        int(start): NewestVersion(
            RevisionTarget(int(event_id), str(patient), str(kind), str(status), list(tags)),
            bool(visible),
        )
        for start, event_id, patient, kind, status, tags, visible in await cur.fetchall()
    }


async def insert_revisions(
    conn: AsyncConnection[Any],
    *,
    principal: Principal,
    revisions: Sequence[StagedRevision],
    audit: AuditContext,
    again: bool = False,
) -> Audited[list[int | None]]:
    """Append ``revisions`` with one audit row a patient: each one's event id, in order, or
    ``None`` for one whose event another revision superseded first (nothing written for
    it). ``again``: a batch of revisions was staged before in the same transaction."""
    await conn.execute(load("clear_revision_staging" if again else "create_revision_staging"))
    async with conn.cursor() as cur, cur.copy(load("copy_revision_staging")) as copy:
        for at, revision in enumerate(revisions):
            payload = None if revision.payload is None else Jsonb(revision.payload)
            await copy.write_row(
                (at, revision.supersedes, payload, revision.occurred_at, revision.status,
                 revision.reason)
            )  # fmt: skip
    params = {
        **writer(principal),
        **audit.params(),
    }
    cur = await conn.execute(load("insert_revision_batch"), params)
    ids = [None if event_id is None else int(event_id) for _, event_id in await cur.fetchall()]
    return Audited(ids, audited=any(event_id is not None for event_id in ids))
