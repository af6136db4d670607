"""Background jobs kept in PostgreSQL: the Bulk Data export's jobs and the files they make
(migration 0019). A worker claims a job with ``FOR UPDATE SKIP LOCKED`` (the one statement
that looks across tenants), then works speaking for the job's tenant, each part it writes
stamping the job's heartbeat, and writes nothing once the job is no longer its own
(cancelled, or claimed by another after its heartbeat went stale). Connection first, the
rest keyword-only; never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg.rows import class_row

from carelog.storage.db import Connection
from carelog.storage.queries import Queries

load = Queries(__name__)

State = Literal["queued", "running", "done", "failed"]


@dataclass(frozen=True, slots=True)
class ExportJob:
    """One export job as its principal sees it; ``files`` how many parts are written."""

    id: str
    principal: str
    state: State
    request: str
    types: list[str] | None
    since: datetime | None
    patients: list[str] | None
    visible_labels: list[str] | None
    transaction_time: datetime
    progress: str
    error: str | None
    files: int


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One part of a finished job's output."""

    resource_type: str
    part: int
    count: int


@dataclass(frozen=True, slots=True)
class Reach:
    """What a claimed job reads: the types (None: all), since, the patients and labels
    (None: all) and the time it is of."""

    types: list[str] | None
    since: datetime | None
    patients: list[str] | None
    visible_labels: list[str] | None
    transaction_time: datetime


@dataclass(frozen=True, slots=True)
class Claimed:
    """A job a worker has claimed."""

    tenant_id: str
    job_id: str


def _sorted(values: frozenset[str] | None) -> list[str] | None:
    return None if values is None else sorted(values)


async def create_export(
    conn: Connection,
    *,
    tenant_id: str,
    job_id: str,
    principal: str,
    request: str,
    types: frozenset[str] | None,
    since: datetime | None,
    patients: frozenset[str] | None,
    visible_labels: frozenset[str] | None,
) -> datetime:
    """Queue a job; its transaction time (now)."""
    cur = await conn.execute(
        load("create_export"),
        {
            "tenant_id": tenant_id,
            "job_id": job_id,
            "principal": principal,
            "request": request,
            "types": _sorted(types),
            "since": since,
            "patients": _sorted(patients),
            "visible_labels": _sorted(visible_labels),
        },
    )
    row = await cur.fetchone()
    assert row is not None
    when: datetime = row[0]
    return when


async def get_export(
    conn: Connection, *, tenant_id: str, job_id: str, principal: str | None
) -> ExportJob | None:
    """The job, if it is ``principal``'s (any principal's with None)."""
    async with conn.cursor(row_factory=class_row(ExportJob)) as cur:
        await cur.execute(
            load("get_export"), {"tenant_id": tenant_id, "job_id": job_id, "principal": principal}
        )
        return await cur.fetchone()


async def list_export_files(conn: Connection, *, tenant_id: str, job_id: str) -> list[ExportFile]:
    """The job's files, by type and part."""
    async with conn.cursor(row_factory=class_row(ExportFile)) as cur:
        await cur.execute(load("list_export_files"), {"tenant_id": tenant_id, "job_id": job_id})
        return await cur.fetchall()


async def get_export_file(
    conn: Connection,
    *,
    tenant_id: str,
    job_id: str,
    principal: str,
    resource_type: str,
    part: int,
) -> bytes | None:
    """One file of a finished job of ``principal``'s, or None."""
    cur = await conn.execute(
        load("get_export_file"),
        {
            "tenant_id": tenant_id,
            "job_id": job_id,
            "principal": principal,
            "resource_type": resource_type,
            "part": part,
        },
    )
    row = await cur.fetchone()
    return None if row is None else bytes(row[0])


async def delete_export(conn: Connection, *, tenant_id: str, job_id: str, principal: str) -> bool:
    """Cancel (or forget) the job of ``principal``'s, with its files; whether there was one."""
    cur = await conn.execute(
        load("delete_export"), {"tenant_id": tenant_id, "job_id": job_id, "principal": principal}
    )
    return await cur.fetchone() is not None


async def claim_export(conn: Connection, *, worker: str, stale_seconds: float) -> Claimed | None:
    """Claim the oldest queued job, or a running one whose heartbeat is older than
    ``stale_seconds``, of any tenant (the connection may speak for none)."""
    cur = await conn.execute(
        load("claim_export"), {"worker": worker, "stale_seconds": stale_seconds}
    )
    row = await cur.fetchone()
    return None if row is None else Claimed(str(row[0]), str(row[1]))


async def start_export(
    conn: Connection, *, tenant_id: str, job_id: str, worker: str
) -> Reach | None:
    """Start a claimed job from nothing (files of an earlier attempt deleted) and say what
    it reads; None if it is not this worker's."""
    params = {"tenant_id": tenant_id, "job_id": job_id, "worker": worker}
    await conn.execute(load("start_export"), params)
    async with conn.cursor(row_factory=class_row(Reach)) as cur:
        await cur.execute(load("export_job_reach"), params)
        return await cur.fetchone()


async def write_export_file(
    conn: Connection,
    *,
    tenant_id: str,
    job_id: str,
    worker: str,
    resource_type: str,
    part: int,
    count: int,
    body: bytes,
    progress: str,
) -> bool:
    """Write one part of the output, stamping the heartbeat; False (nothing written) when
    the job is no longer this worker's."""
    cur = await conn.execute(
        load("write_export_file"),
        {
            "tenant_id": tenant_id,
            "job_id": job_id,
            "worker": worker,
            "resource_type": resource_type,
            "part": part,
            "count": count,
            "body": body,
            "progress": progress,
        },
    )
    return await cur.fetchone() is not None


async def beat_export(
    conn: Connection, *, tenant_id: str, job_id: str, worker: str, progress: str
) -> bool:
    """Stamp the heartbeat and progress; False when the job is no longer this worker's."""
    cur = await conn.execute(
        load("beat_export"),
        {"tenant_id": tenant_id, "job_id": job_id, "worker": worker, "progress": progress},
    )
    return await cur.fetchone() is not None


async def end_export(
    conn: Connection,
    *,
    tenant_id: str,
    job_id: str,
    worker: str,
    state: State,
    progress: str,
    error: str | None = None,
) -> bool:
    """End the worker's run of the job: ``done``, ``failed`` or back to ``queued``."""
    cur = await conn.execute(
        load("end_export"),
        {
            "tenant_id": tenant_id,
            "job_id": job_id,
            "worker": worker,
            "state": state,
            "progress": progress,
            "error": error,
        },
    )
    return await cur.fetchone() is not None
