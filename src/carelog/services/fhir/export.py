"""FHIR Bulk Data export (``GET /fhir/$export``): the kick-off queues a job in PostgreSQL
(``storage.jobs``), a worker of any instance (``services.jobs``) runs it, writing the
NDJSON of each resource type in parts into the database, and the status, manifest, files
and cancel are served from there, to the principal that started it only (any other's
request is not found, as for a job that never was). What an export holds is
``domain.fhir.export``'s.

Audit: the kick-off is an execute, each status poll and file download a read, a cancel an
execute, each in the tenant's chain with the request's principal; the worker's reads are the
export's and are not audited again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from carelog.domain.audit import AuditAction
from carelog.domain.events import EventDocument, PatientEvent
from carelog.domain.fhir.export import ExportRequest, heads_export, patient_export, with_patient
from carelog.domain.fhir.history import Link, current_heads
from carelog.domain.fhir.resources import Resource, patient_resource
from carelog.errors import NotFound
from carelog.services.audit import record_success
from carelog.services.unit import Work
from carelog.storage import jobs as job_store
from carelog.storage import patient_events as event_store
from carelog.storage.db import Pool, connection
from carelog.storage.jobs import Claimed, ExportFile, ExportJob

_log = logging.getLogger("carelog.export")

# Patients looked up a statement at a time; the most events one read of their events may
# return (patients are read together up to it; a patient with more in two passes, page by
# page, the job's heartbeat stamped after each: first which of its events are current
# versions, then only those, so that neither a statement nor what a worker holds grows
# with the largest history beyond a few integers an event); the most resources and bytes of
# one file part.
PATIENTS_PER_READ = 200
EVENTS_PER_READ = 20_000
PART_RESOURCES = 50_000
PART_BYTES = 16 * 1024 * 1024
_GONE = "No export job of this principal at that address."


@dataclass(frozen=True, slots=True)
class ExportStatus:
    """A job and, once done, its files."""

    job: ExportJob
    files: list[ExportFile]


async def kick_off(work: Work, request: ExportRequest, *, request_url: str) -> ExportJob:
    """Queue an export of what the caller may see now (its patients, its labels), for the
    caller alone to poll and download."""
    access = work.access
    job_id = secrets.token_hex(16)
    async with work.transaction():
        await job_store.create_export(
            await work.connection(),
            tenant_id=access.tenant_id,
            job_id=job_id,
            principal=access.principal.name,
            request=request_url,
            types=request.types,
            since=request.since,
            patients=access.principal.patients,
            visible_labels=access.visible_labels,
        )
        await record_success(work, AuditAction.EXECUTE, patient_id=None, event_ids=[])
    job = await job_store.get_export(
        work.conn, tenant_id=access.tenant_id, job_id=job_id, principal=None
    )
    assert job is not None
    return job


async def export_status(work: Work, job_id: str) -> ExportStatus:
    """The caller's job, and its files once done (:class:`NotFound` if it is not the
    caller's)."""
    access = work.access
    conn = await work.connection()
    job = await job_store.get_export(
        conn, tenant_id=access.tenant_id, job_id=job_id, principal=access.principal.name
    )
    if job is None:
        raise NotFound(_GONE)
    files = []
    if job.state == "done":
        files = await job_store.list_export_files(conn, tenant_id=access.tenant_id, job_id=job_id)
    await record_success(work, AuditAction.READ, patient_id=None, event_ids=[])
    return ExportStatus(job, files)


async def export_file(work: Work, job_id: str, resource_type: str, part: int) -> bytes:
    """One NDJSON file of the caller's finished job."""
    access = work.access
    body = await job_store.get_export_file(
        await work.connection(),
        tenant_id=access.tenant_id,
        job_id=job_id,
        principal=access.principal.name,
        resource_type=resource_type,
        part=part,
    )
    if body is None:
        raise NotFound("No such file of an export of this principal.")
    await record_success(work, AuditAction.READ, patient_id=None, event_ids=[])
    return body


async def cancel(work: Work, job_id: str) -> None:
    """Cancel the caller's job (or forget a finished one): the job and its files go; a
    worker running it stops at its next part."""
    access = work.access
    async with work.transaction():
        deleted = await job_store.delete_export(
            await work.connection(),
            tenant_id=access.tenant_id,
            job_id=job_id,
            principal=access.principal.name,
        )
        if not deleted:
            raise NotFound(_GONE)
        await record_success(work, AuditAction.EXECUTE, patient_id=None, event_ids=[])


class _Parts:
    """The NDJSON being made, per resource type, cut into parts."""

    def __init__(self, part_resources: int, part_bytes: int) -> None:
        self.part_resources = part_resources
        self.part_bytes = part_bytes
        self.lines: dict[str, list[bytes]] = defaultdict(list)
        self.sizes: dict[str, int] = defaultdict(int)
        self.parts: dict[str, int] = defaultdict(int)

    def add(self, kind: str, line: bytes) -> bool:
        """Add a line; whether its type's part is full."""
        self.lines[kind].append(line)
        self.sizes[kind] += len(line)
        return len(self.lines[kind]) >= self.part_resources or self.sizes[kind] >= self.part_bytes

    def take(self, kind: str) -> tuple[int, int, bytes]:
        """The type's next part: its number, count and bytes."""
        lines = self.lines.pop(kind)
        self.sizes.pop(kind)
        self.parts[kind] += 1
        return self.parts[kind], len(lines), b"".join(lines)


_Lines = list[tuple[str, bytes]]


def _line(resource: Resource) -> bytes:
    text = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
    return text.encode() + b"\n"


def _render_heads(
    documents: list[EventDocument],
    heads: dict[int, tuple[int, int]],
    types: frozenset[str] | None,
    since: datetime | None,
) -> _Lines:
    """The export's lines of some of a patient's current versions (CPU only: a thread)."""
    events = [document.parse() for document in documents]
    resources = heads_export(heads, events, types=types, since=since)
    return [(str(resource["resourceType"]), _line(resource)) for resource in resources]


def _render(
    documents: list[EventDocument],
    patients: list[str],
    types: frozenset[str] | None,
    since: datetime | None,
) -> list[tuple[str, bytes]]:
    """The export's lines of a batch of patients (CPU only: run in a thread)."""
    by_patient: dict[str, list[PatientEvent]] = defaultdict(list)
    for document in documents:
        event = document.parse()
        by_patient[event.patient_id].append(event)
    lines = []
    for patient in patients:
        events = by_patient.get(patient)
        if not events:
            continue
        for resource in patient_export(patient, events, types=types, since=since):
            lines.append((str(resource["resourceType"]), _line(resource)))
    return lines


async def run_export(
    pool: Pool,
    claimed: Claimed,
    worker: str,
    *,
    patients_per_read: int = PATIENTS_PER_READ,
    events_per_read: int = EVENTS_PER_READ,
    part_resources: int = PART_RESOURCES,
    part_bytes: int = PART_BYTES,
) -> None:
    """Run a claimed job from the start to done; stop when it is cancelled (or claimed by
    another); put it back in the queue when this worker is stopped."""
    tenant, job_id = claimed.tenant_id, claimed.job_id
    ids = {"tenant_id": tenant, "job_id": job_id, "worker": worker}
    try:
        async with connection(pool, tenant) as conn:
            reach = await job_store.start_export(conn, **ids)
        if reach is None:
            return
        patients = None if reach.patients is None else frozenset(reach.patients)
        labels = None if reach.visible_labels is None else frozenset(reach.visible_labels)
        types = None if reach.types is None else frozenset(reach.types)
        parts = _Parts(part_resources, part_bytes)
        after, seen = "", 0
        while True:
            async with connection(pool, tenant) as conn:
                batch = await event_store.export_patients(
                    conn, tenant_id=tenant, after=after, limit=patients_per_read, patients=patients
                )
            if not batch:
                break
            counts = dict(batch)
            for group in _groups(batch, events_per_read):
                read = _Read(pool, ids, reach.transaction_time, labels, types, reach.since)
                progress = f"{seen} patients read"
                long = len(group) == 1 and counts[group[0]] > events_per_read
                async for lines in read.lines(group, events_per_read, long=long):
                    full = {kind for kind, line in lines if parts.add(kind, line)}
                    if not await _write(pool, ids, parts, full, progress):
                        return  # cancelled
                if read.cancelled:
                    return  # cancelled (or claimed by another) between two pages
                seen += len(group)
                progress = f"{seen} patients read"
                async with connection(pool, tenant) as conn:
                    if not await job_store.beat_export(conn, **ids, progress=progress):
                        return
            after = batch[-1][0]
        if not await _write(pool, ids, parts, set(parts.lines), f"{seen} patients read"):
            return
        async with connection(pool, tenant) as conn:
            await job_store.end_export(conn, **ids, state="done", progress="done")
    except asyncio.CancelledError:
        # The service stops: the job goes back to the queue for the next worker.
        await _give_back(pool, ids)  # (the cancel is delivered: this runs to its end)
        raise
    except Exception as exc:
        _log.error("export job failed: %s", type(exc).__name__)
        async with connection(pool, tenant) as conn:
            await job_store.end_export(
                conn, **ids, state="failed", progress="failed", error=type(exc).__name__
            )


def _groups(batch: list[tuple[str, int]], events_per_read: int) -> list[list[str]]:
    """The patients of a batch in runs read by one statement: as many as come to at most
    ``events_per_read`` events, a patient with more alone (read page by page)."""
    groups: list[list[str]] = []
    total = 0
    for patient, events in batch:
        if not groups or total + events > events_per_read:
            groups.append([])
            total = 0
        groups[-1].append(patient)
        total += events
    return groups


@dataclass
class _Read:
    """How a worker reads a group of patients (``_groups``) and maps them to NDJSON lines:
    in one statement; or a patient with more than ``events_per_read`` events in two passes
    of pages of that many, the job's heartbeat stamped after each page (``cancelled`` once
    the job is no longer this worker's). Each statement on a connection of its own, as the
    rest of the export: the log only grows, and ``as_of`` holds every read to the kick-off's
    moment."""

    pool: Pool
    ids: dict[str, str]
    as_of: datetime
    labels: frozenset[str] | None
    types: frozenset[str] | None
    since: datetime | None
    cancelled: bool = False

    async def lines(
        self, group: list[str], events_per_read: int, *, long: bool
    ) -> AsyncIterator[_Lines]:
        """The group's lines; ``long``: it is one patient of more than ``events_per_read``
        events (its events counted when the batch was looked up: the count only grows)."""
        tenant = self.ids["tenant_id"]
        if not long:
            async with connection(self.pool, tenant) as conn:
                documents = await event_store.export_versions(
                    conn, tenant_id=tenant, patients=group, as_of=self.as_of,
                    visible_labels=self.labels,
                )  # fmt: skip
            yield await asyncio.to_thread(_render, documents, group, self.types, self.since)
            return
        patient = group[0]
        links = await self._links(patient, events_per_read)
        if links is None:
            return
        heads = current_heads(links)
        if with_patient(links, types=self.types, since=self.since):
            yield [("Patient", _line(patient_resource(patient)))]
        del links
        wanted = list(heads)
        for at in range(0, len(wanted), events_per_read):
            async with connection(self.pool, tenant) as conn:
                documents = await event_store.export_events(
                    conn, tenant_id=tenant, event_ids=wanted[at : at + events_per_read]
                )
            yield await asyncio.to_thread(_render_heads, documents, heads, self.types, self.since)
            # (No patient id in the progress: a status answer's header, which proxies log.)
            if not await self._beat(f"a long history: {at + len(documents)} versions out"):
                return

    async def _links(self, patient: str, events_per_read: int) -> list[Link] | None:
        # The first pass: every visible version's link, no content (None: cancelled).
        found: list[Link] = []
        before = None
        while True:
            async with connection(self.pool, self.ids["tenant_id"]) as conn:
                page = await event_store.export_patient_links(
                    conn, tenant_id=self.ids["tenant_id"], patient_id=patient,
                    as_of=self.as_of, visible_labels=self.labels, before=before,
                    limit=events_per_read,
                )  # fmt: skip
            found.extend(link for _, link in page)
            if len(page) < events_per_read:
                return found
            if not await self._beat(f"a long history: {len(found)} versions looked at"):
                return None
            before = (page[-1][0], page[-1][1].id)

    async def _beat(self, progress: str) -> bool:
        async with connection(self.pool, self.ids["tenant_id"]) as conn:
            alive = await job_store.beat_export(conn, **self.ids, progress=progress)
        self.cancelled = not alive
        return alive


async def _write(
    pool: Pool, ids: dict[str, str], parts: _Parts, kinds: set[str], progress: str
) -> bool:
    for kind in sorted(kinds):
        part, count, body = parts.take(kind)
        async with connection(pool, ids["tenant_id"]) as conn:
            written = await job_store.write_export_file(
                conn, **ids, resource_type=kind, part=part, count=count, body=body,
                progress=progress,
            )  # fmt: skip
        if not written:
            return False
    return True


async def _give_back(pool: Pool, ids: dict[str, str]) -> None:
    try:
        async with connection(pool, ids["tenant_id"]) as conn:
            await job_store.end_export(conn, **ids, state="queued", progress="queued")
    except Exception as exc:  # its heartbeat goes stale, and it is claimed again then
        _log.warning("export job not given back: %s", type(exc).__name__)
