"""Record a batch of events (POST /patient-events/batch): all of them, checked first, in one
transaction written with COPY, or none."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from carelog.domain.batch import (
    BatchItem,
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
    """A batch's items, checked as events; for NDJSON each one's line; the request hash of
    each item with an idempotency key; the order to store them in (the log's index order:
    patient, then clinical time); and the JSON texts of their payloads and clinical times
    in that order, written with the read (in its thread, not on the event loop)."""

    items: list[BatchItem]
    lines: list[int] | None
    hashes: list[bytes | None]  # each item's request hash, for its idempotency key
    order: list[int]
    texts: batch_store.CopyTexts


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
    order = log_order(items)
    return ReadBatch(items, lines, hashes, order, batch_store.copy_texts(items, order))


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
    items, lines = batch.items, batch.lines
    unreachable = [i for i, item in enumerate(items) if not principal.may_reach(item.patient_id)]
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
    await _check_registered_types(conn, access.tenant_id, items, lines)
    keyed = sum(1 for item in items if item.idempotency_key is not None)
    async with work.transaction():
        # The rows are put together a chunk at a time as they are sent, from the texts the
        # read wrote: PostgreSQL reads each chunk while the next is made (all of the rows
        # made first, in the read's thread, was 10% slower on the wall clock at equal CPU),
        # and the event loop is never held for the whole batch's JSON.
        rows = batch_store.copy_rows(items, batch.hashes, batch.order, batch.texts)
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
    return BatchRecorded(ids, replayed, len(items) - len(replayed))


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
    conn: Connection, tenant_id: str, items: list[BatchItem], lines: list[int] | None
) -> None:
    # One lookup per distinct type that is not built in (a batch usually has none).
    others = sorted({item.event_type for item in items} - EVENT_TYPES.keys())
    if not others:
        return
    rules = {
        event_type: await type_store.event_type_rule(
            conn, tenant_id=tenant_id, event_type=event_type
        )
        for event_type in others
    }
    errors: list[ItemError] = []
    for index, item in enumerate(items):
        rule = rules.get(item.event_type)
        if rule is None:
            continue
        schema, reject = rule
        line = None if lines is None else lines[index]
        if schema is not None:
            try:
                check_against_schema(item.event_type, schema, item.payload)
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
