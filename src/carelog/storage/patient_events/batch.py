"""Appending a batch of events with COPY: staged in a temporary table, claimed idempotency
keys, then one INSERT ... SELECT into the log with the batch's audit rows (one a patient).
The caller holds the transaction (the staging table lives until its commit). Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from psycopg import AsyncConnection

from carelog.domain.audit import AuditContext
from carelog.domain.batch import BatchItem
from carelog.domain.limits import dumps_each
from carelog.domain.principals import Principal
from carelog.storage.audit import Audited
from carelog.storage.patient_events._shared import load, writer

COPY_CHUNK_ROWS = 1000


@dataclass(frozen=True, slots=True)
class Replay:
    """An item whose key was claimed before: the event it names, and whether the item is the
    same request as the one that stored it."""

    index: int
    same_request: bool


def _text(value: str) -> str:
    # COPY's text format: backslash, tab, newline and carriage return are escaped.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


_ZERO = timedelta(0)


def _payload_texts(payloads: Sequence[dict[str, Any]]) -> list[str]:
    # Written by one orjson call for the batch, each escaped for COPY: orjson escapes every
    # control character inside strings, so a backslash is all a payload's text may hold that
    # COPY reads specially.
    return [text.decode().replace("\\", "\\\\") for text in dumps_each(payloads)]


def _stamp_texts(stamps: Sequence[datetime | None]) -> list[str]:
    # In UTC (PostgreSQL refuses offsets beyond 15:59, which RFC 3339 allows), written by one
    # orjson call; no stamp holds a quote, so the texts split at '","'.
    given = [at if at.utcoffset() == _ZERO else at.astimezone(UTC) for at in stamps if at]
    texts = iter(orjson.dumps(given, option=orjson.OPT_UTC_Z).decode()[2:-2].split('","'))
    return [r"\N" if at is None else next(texts) for at in stamps]


def copy_lines(
    items: Sequence[BatchItem], hashes: Sequence[bytes | None], order: Sequence[int]
) -> Iterator[str]:
    """The COPY text of ``items`` (with each one's request hash, ``None`` without a key) in
    ``order`` (their indexes), a row a line. The payloads and clinical times are written
    first, by one orjson call each."""
    ordered = [items[index] for index in order]
    payloads = _payload_texts([item.payload for item in ordered])
    stamps = _stamp_texts([item.occurred_at for item in ordered])
    rows = zip(order, ordered, payloads, stamps, strict=True)
    for index, item, payload, occurred in rows:
        source = r"\N" if item.source is None else _text(item.source)
        key = r"\N" if item.idempotency_key is None else _text(item.idempotency_key)
        digest = hashes[index]
        hashed = r"\N" if digest is None else "\\\\x" + digest.hex()
        labels = "{" + ",".join(sorted(item.labels)) + "}" if item.labels else "{}"
        yield (
            f"{index}\t{item.patient_id}\t{item.event_type}\t{payload}\t{occurred}\t{source}\t"
            f"{labels}\t{key}\t{hashed}\n"
        )


def copy_chunks(lines: Iterable[str]) -> Iterator[bytes]:
    """``lines`` (:func:`copy_lines`') joined and encoded COPY_CHUNK_ROWS at a time, to send
    one chunk while the next is made."""
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == COPY_CHUNK_ROWS:
            yield "".join(chunk).encode()
            chunk.clear()
    if chunk:
        yield "".join(chunk).encode()


def copy_rows(
    items: Sequence[BatchItem], hashes: Sequence[bytes | None], order: Sequence[int]
) -> Iterator[bytes]:
    """:func:`copy_lines` of ``items`` in chunks of rows, each made as it is sent."""
    return copy_chunks(copy_lines(items, hashes, order))


async def stage_batch(
    conn: AsyncConnection[Any], *, rows: Iterable[bytes], again: bool = False
) -> None:
    """Create the transaction's staging table and COPY ``rows`` (:func:`copy_rows`'s text)
    into it; ``again``, once a batch staged before in the same transaction is inserted: empty
    that table instead, for the next batch."""
    await conn.execute(load("clear_batch_staging" if again else "create_batch_staging"))
    async with conn.cursor() as cur, cur.copy(load("copy_batch_staging")) as copy:
        for chunk in rows:
            await copy.write(chunk)


async def claim_batch_keys(conn: AsyncConnection[Any], *, tenant_id: str) -> int:
    """Claim the staged items' idempotency keys; how many this batch now owns."""
    cur = await conn.execute(load("claim_batch_keys"), {"tenant_id": tenant_id})
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def mark_batch_replays(conn: AsyncConnection[Any], *, tenant_id: str) -> list[Replay]:
    """Mark the staged items whose keys were claimed before as replays of their first
    events: each one's index, and whether it is the same request."""
    cur = await conn.execute(load("mark_batch_replays"), {"tenant_id": tenant_id})
    return [Replay(int(index), bool(same)) for index, same in await cur.fetchall()]


async def insert_batch(
    conn: AsyncConnection[Any], *, principal: Principal, audit: AuditContext
) -> Audited[list[int]]:
    """Append the staged events that are not replays, with one audit row a patient of the
    batch: every item's event id, in the batch's order."""
    params = {
        **writer(principal),
        **audit.params(),
    }
    cur = await conn.execute(load("insert_batch"), params)
    row = await cur.fetchone()
    assert row is not None
    return Audited([int(i) for i in row[0]], audited=True)
