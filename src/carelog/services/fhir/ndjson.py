"""FHIR R4 in as Bulk Data NDJSON (``POST /fhir/$import``): one resource a line, read from
the request's body as it arrives, never held whole, and stored batch by batch with the same
checks as a Bundle (``entries.Importer``: re-imports unchanged, new versions corrections,
``meta.security`` labels, the key's patients). A batch's created lines are written together
as ``POST /patient-events/batch`` writes (``staged``: COPY into a staging table, one
``INSERT ... SELECT``, one audit row a patient naming their events), and its corrections and
retractions likewise (one ``update`` audit row a patient); Patients keep a statement each.

Per line, as a batch Bundle is per entry: each line is created, corrected, unchanged or
failed on its own, and a line that cannot be read (not JSON, not a resource, invalid R4, a
patient this key may not reach) fails alone while the lines around it are stored. Lines are
stored in batches of ``batch_lines``, one transaction (one commit) each: an import cut off
half-way (the client gone, the database down, the body over the limit) keeps the batches
committed before, whole, and the rest is not stored at all; imported again, the stored lines
are unchanged and the others created. The vital signs of one exported event (consecutive
lines with one ``urn:carelog:event`` identifier) are kept in one batch and joined.

Reading a line (parsing, validating against R4 with ``fhir.resources``, mapping) costs
0.15 to 0.5 ms of CPU, more than storing it with COPY; a common lab or vital-signs
Observation about 0.05 ms (``domain.fhir.fast_observation`` checks it against R4 instead
of the full model). Each batch is read off the event loop, in a thread or the given
executor, while the batch before it is stored. With a pool
of processes (``line_readers``, CARELOG_FHIR_IMPORT_PROCESSES) each batch is split in
``parts`` read at once, on the other cores.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from carelog.domain.audit import AuditAction
from carelog.domain.fhir import Item, LineTally, NdjsonReader, ndjson_outcome
from carelog.domain.fhir.bundles import MAX_LINE_BYTES
from carelog.services.audit import record_success
from carelog.services.fhir.entries import Importer
from carelog.services.fhir.ingest import joined, sign_key
from carelog.services.unit import Work

__all__ = ["BATCH_LINES", "NdjsonImport", "import_ndjson", "line_readers", "read_lines"]

# Lines stored in one transaction: large enough that a commit is rare, small enough that
# the patients' locks are held for a fraction of a second.
BATCH_LINES = 1_000


@dataclass(frozen=True, slots=True)
class NdjsonImport:
    """The answer to an NDJSON import: 200, or 413 when the body went over ``max_bytes``
    (what came before the batch that crossed it is stored, and said), the OperationOutcome,
    and what became of the lines."""

    status: int
    body: dict[str, Any]
    tally: LineTally


@asynccontextmanager
async def line_readers(processes: int) -> AsyncIterator[Executor | None]:
    """A pool of ``processes`` processes to read lines in (``None`` for none: 0), started
    (each one's imports done) before the block, and stopped after it."""
    if processes <= 0:
        yield None
        return
    # Spawned, not forked: a fork of the running service would copy its threads' locks.
    readers = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
    try:
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(readers, read_lines, 1, []) for _ in range(processes))
        )
        yield readers
    finally:
        await asyncio.to_thread(readers.shutdown, cancel_futures=True)


def read_lines(first_line: int, raws: Sequence[bytes], validate: bool = True) -> list[Item]:
    """Lines ``raws``, the first numbered ``first_line``, read as items (blank lines are
    skipped but counted). A module-level function of plain values, so that a process pool
    can run it."""
    reader = NdjsonReader(validate=validate)
    reader.line = first_line - 1
    return [item for raw in raws if (item := reader.feed(raw)) is not None]


class _Lines:
    """Splits a byte stream into lines, counting its bytes: a line longer than the reader's
    limit is kept only up to one byte past it (the reader then refuses it as too long)."""

    def __init__(self, max_bytes: int, max_line_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_line_bytes = max_line_bytes
        self.received = 0
        self.over = False
        self._partial = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            self.over = True
            return []
        pieces = chunk.split(b"\n")
        lines = []
        for piece in pieces[:-1]:
            self._append(piece)
            lines.append(bytes(self._partial))
            self._partial.clear()
        self._append(pieces[-1])
        return lines

    def _append(self, piece: bytes) -> None:
        room = self.max_line_bytes + 1 - len(self._partial)
        if room > 0:
            self._partial += piece[:room]

    def rest(self) -> list[bytes]:
        return [bytes(self._partial)] if self._partial else []


async def _batches(
    chunks: AsyncIterator[bytes], lines: _Lines, batch_lines: int
) -> AsyncIterator[list[bytes]]:
    batch: list[bytes] = []
    async for chunk in chunks:
        batch.extend(lines.feed(chunk))
        if lines.over:
            return  # the batch that crossed the limit is not stored
        while len(batch) >= batch_lines:
            yield batch[:batch_lines]
            batch = batch[batch_lines:]
    batch.extend(lines.rest())
    if batch:
        yield batch


async def import_ndjson(
    work: Work,
    chunks: AsyncIterator[bytes],
    *,
    max_bytes: int,
    batch_lines: int = BATCH_LINES,
    validate: bool = True,
    executor: Executor | None = None,
    parts: int = 1,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> NdjsonImport:
    """Import the NDJSON of ``chunks`` (the body as it arrives) into the caller's tenant, at
    most ``max_bytes`` of it (see the module's docstring)."""
    loop = asyncio.get_running_loop()
    lines = _Lines(max_bytes, max_line_bytes)
    tally = LineTally()
    audited = False
    held: list[Item] = []  # the trailing signs of an event that may go on in the next batch
    next_line = 1
    pending: asyncio.Future[list[Item]] | None = None

    async def store(items: list[Item]) -> None:
        nonlocal audited
        if not items:
            return
        importer = Importer(work, lines=True, copy=True)
        for outcome in await importer.each(joined(items)):
            tally.add(outcome)
        audited = audited or importer.audited

    async for raws in _batches(chunks, lines, batch_lines):
        read = _read(loop, executor, parts, next_line, raws, validate)
        next_line += len(raws)
        if pending is not None:
            # Store the batch read before while this one is read (in another thread or
            # process).
            items = held + await pending
            held = _trailing_signs(items)
            await store(items[: len(items) - len(held)])
        pending = read
    if pending is not None:
        held += await pending
    await store(held)
    if not audited:
        # Nothing written (all unchanged or failed, or no line): the request's own row.
        await record_success(work, AuditAction.CREATE, patient_id=None, event_ids=[])
    if lines.over:
        note = (
            f"The body is over {max_bytes} bytes: the import stopped at line {next_line}; "
            f"lines 1 to {next_line - 1} are stored as said, the rest was not read."
        )
        return NdjsonImport(413, ndjson_outcome(tally, note=note), tally)
    return NdjsonImport(200, ndjson_outcome(tally), tally)


def _read(
    loop: asyncio.AbstractEventLoop,
    executor: Executor | None,
    parts: int,
    first_line: int,
    raws: list[bytes],
    validate: bool,
) -> asyncio.Future[list[Item]]:
    """A batch's lines read by ``executor`` (a thread of the loop's when ``None``), in
    ``parts`` pieces at once (one per process of a pool), the items in the lines' order."""
    size = -(-len(raws) // max(1, parts))
    pieces = [
        loop.run_in_executor(executor, read_lines, first_line + at, raws[at : at + size], validate)
        for at in range(0, len(raws), size)
    ]

    async def joined() -> list[Item]:
        return [item for piece in await asyncio.gather(*pieces) for item in piece]

    return asyncio.ensure_future(joined())


def _trailing_signs(items: list[Item]) -> list[Item]:
    """The items at the end of a batch that are vital signs of the event the last one is
    of: held back, so that the rest of that event's signs, in the next batch, join them."""
    if not items:
        return []
    key = sign_key(items[-1].read)
    if key is None:
        return []
    at = len(items)
    while at > 0 and sign_key(items[at - 1].read) == key:
        at -= 1
    return items[at:]
