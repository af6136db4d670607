"""Record a batch of events (POST /patient-events/batch): all of them, checked first, in one
transaction written with COPY, or none."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from carelog.domain.batch import (
    ItemError,
    log_order,
    parse_json_array,
    parse_ndjson,
    refused,
    texts_checked,
    validate_items,
)
from carelog.domain.clinical import EVENT_TYPES
from carelog.domain.tenant_schemas import check_against_schema
from carelog.errors import Conflict, Forbidden, IdempotencyKeyReused, ValidationFailed
from carelog.services.unit import Work
from carelog.storage import event_types as type_store
from carelog.storage.db import Connection
from carelog.storage.patient_events import batch as batch_store


@dataclass(frozen=True, slots=True)
class BatchRecorded:
    """Each item's event id, in the batch's order; which items were replays of events stored
    earlier under their idempotency keys; how many events the batch wrote."""

    ids: list[int]
    replayed: list[int]
    created: int


@dataclass(frozen=True, slots=True)
class ReadBatch:
    """A batch's items, checked as events, kept as what storing them needs: for NDJSON each
    one's line; each one's patient; those of a type that is not built in (its index, type
    and payload, for the tenant's registry); how many have an idempotency key; and the
    COPY text of every item, a line each, in the order to store them in (the log's index
    order: patient, then clinical time), written with the read (in its thread, not on the
    event loop).

    No model or parsed JSON outlives the read: its hundreds of thousands of objects are
    freed while the cyclic collector is paused, so that no collection walks them after."""

    lines: list[int] | None
    patients: list[str]  # each item's, in the batch's order
    registered: list[tuple[int, str, dict[str, Any]]]
    keyed: int
    copy_lines: list[str]


_gc_lock = threading.Lock()
_gc_pausers = 0


@contextmanager
def _collector_paused() -> Iterator[None]:
    # Reading a batch builds hundreds of thousands of objects that hold no reference cycles
    # (parsed JSON, models): the cyclic collector, run again and again as they pile up,
    # walked them all each time and nearly doubled the cost of validation (10,000 events:
    # 19 us an event with it, 11 without; docs/benchmarks.md). Reference counting still
    # frees everything; the collector runs again once no batch is being read.
    global _gc_pausers
    with _gc_lock:
        _gc_pausers += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0:
                gc.enable()


def _read(body: bytes, ndjson: bool, max_events: int) -> ReadBatch:
    with _collector_paused():
        return _read_items(body, ndjson, max_events)


def _read_items(body: bytes, ndjson: bool, max_events: int) -> ReadBatch:
    lines: list[int] | None = None
    if ndjson:
        raw, lines, texts = parse_ndjson(body, max_events=max_events)
    else:
        raw, texts = parse_json_array(body, max_events=max_events)
    items = validate_items(raw, lines=lines, texts_checked=texts_checked(texts))
    del texts
    del raw
    hashes = [None if item.idempotency_key is None else item.request_hash() for item in items]
    return ReadBatch(
        lines=lines,
        patients=[item.patient_id for item in items],
        registered=[
            (index, item.event_type, item.payload)
            for index, item in enumerate(items)
            if item.event_type not in EVENT_TYPES
        ],
        keyed=sum(1 for digest in hashes if digest is not None),
        copy_lines=list(batch_store.copy_lines(items, hashes, log_order(items))),
    )


async def read_batch(body: bytes, *, ndjson: bool, max_events: int) -> ReadBatch:
    """Parse and check a batch's body (a JSON array, or NDJSON) in a worker thread: a large
    batch's validation would otherwise hold the event loop for its whole length."""
    return await asyncio.to_thread(_read, body, ndjson, max_events)


async def record_batch(work: Work, batch: ReadBatch) -> BatchRecorded:
    """Append every item of ``batch`` (already checked as events and as their built-in
    types by :func:`read_batch`) to the tenant's log, in one transaction, with
    one audit row a patient of the batch; or, if any item may not be recorded, none.

    An item for a patient the key may not reach is 403, one whose type the tenant's registry
    refuses (or whose payload fails the tenant's schema) 422, one whose idempotency key was
    used with another request 409: each names every such item. An item whose key was used
    with the same request is a replay: it writes nothing and its id is the first event's.
    """
    access = work.access
    principal = access.principal
    lines = batch.lines
    unreachable = [
        i for i, patient in enumerate(batch.patients) if not principal.may_reach(patient)
    ]
    if unreachable:
        raise Forbidden(
            "This key may not record events for the patient of "
            f"{len(unreachable)} item(s) of the batch; nothing was stored.",
            errors=[
                _entry(i, "/patient_id", "patient out of reach", "forbidden", lines)
                for i in unreachable[:100]
            ],
        )
    conn = await work.connection()
    await _check_registered_types(conn, access.tenant_id, batch.registered, lines)
    keyed = batch.keyed
    async with work.transaction():
        # The rows are joined and sent a chunk at a time: PostgreSQL reads each chunk while
        # the next is made, and the event loop is never held for the whole batch's text.
        rows = batch_store.copy_chunks(batch.copy_lines)
        await batch_store.stage_batch(conn, rows=rows)
        replayed: list[int] = []
        if keyed:
            claimed = await batch_store.claim_batch_keys(conn, tenant_id=access.tenant_id)
            if claimed < keyed:
                replays = await batch_store.mark_batch_replays(conn, tenant_id=access.tenant_id)
                if len(replays) != keyed - claimed:  # a guard: each key not claimed had one
                    raise Conflict("A concurrent request used the same keys; retry the batch.")
                _check_replays(replays, lines)
                replayed = sorted(r.index for r in replays)
        ids = work.audited(
            await batch_store.insert_batch(conn, principal=principal, audit=access.audit)
        )
    return BatchRecorded(ids, replayed, len(batch.patients) - len(replayed))


def _entry(
    index: int, pointer: str, message: str, kind: str, lines: list[int] | None
) -> dict[str, object]:
    return ItemError(
        index, f"/{index}{pointer}", message, kind, None if lines is None else lines[index]
    ).as_problem_entry()


def _check_replays(replays: list[batch_store.Replay], lines: list[int] | None) -> None:
    reused = sorted(r.index for r in replays if not r.same_request)
    if reused:
        raise IdempotencyKeyReused(
            f"The idempotency key of {len(reused)} item(s) was already used with a different "
            "event; nothing was stored.",
            errors=[
                _entry(
                    i,
                    "/idempotency_key",
                    "already used with a different event",
                    "idempotency_key_reused",
                    lines,
                )
                for i in reused[:100]
            ],
        )


async def _check_registered_types(
    conn: Connection,
    tenant_id: str,
    registered: list[tuple[int, str, dict[str, Any]]],
    lines: list[int] | None,
) -> None:
    # One lookup per distinct type that is not built in (a batch usually has none).
    if not registered:
        return
    rules = {
        event_type: await type_store.event_type_rule(
            conn, tenant_id=tenant_id, event_type=event_type
        )
        for event_type in sorted({event_type for _, event_type, _ in registered})
    }
    errors: list[ItemError] = []
    for index, event_type, payload in registered:
        rule = rules.get(event_type)
        if rule is None:
            continue
        schema, reject = rule
        line = None if lines is None else lines[index]
        if schema is not None:
            try:
                check_against_schema(event_type, schema, payload)
            except ValidationFailed as failed:
                for error in failed.errors or []:
                    pointer = "/" + str(error["field"]).replace(".", "/")
                    errors.append(
                        ItemError(
                            index, f"/{index}{pointer}", error["message"], error["type"], line
                        )
                    )
        elif reject:
            errors.append(
                ItemError(
                    index,
                    f"/{index}/event_type",
                    "not registered for this tenant: register it with PUT "
                    "/event-types/{event_type} first",
                    "unregistered_event_type",
                    line,
                )
            )
    if errors:
        raise refused(errors)
