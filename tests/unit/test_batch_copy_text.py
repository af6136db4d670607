"""The COPY text of a batch (``storage.patient_events.batch.copy_rows``), read back field by
field as PostgreSQL's text format reads it: every payload, clinical time, source, label and
key as the item holds it, in the order asked, whatever the payload's strings hold
(backslashes, control characters, the separator the writer splits on, quotes, commas) and
whatever the time's offset (beyond PostgreSQL's 15:59 too)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from carelog.domain.batch import BatchItem
from carelog.storage.patient_events.batch import copy_chunks, copy_lines, copy_rows

_ESCAPES = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}


def _field(text: str) -> str | None:
    if text == r"\N":
        return None
    return re.sub(r"\\[\\tnr]", lambda m: _ESCAPES[m.group(0)], text)


def _rows(items: list[BatchItem], order: list[int]) -> list[list[str | None]]:
    hashes = [None if item.idempotency_key is None else item.request_hash() for item in items]
    text = b"".join(copy_rows(items, hashes, order)).decode()
    # The same from lines written beforehand (the batch route writes them in its read).
    lines = list(copy_lines(items, hashes, order))
    assert len(lines) == len(items)
    chunks = list(copy_chunks(lines))
    assert len(chunks) == -(-len(items) // 1000)  # COPY_CHUNK_ROWS a chunk
    assert b"".join(chunks).decode() == text
    assert text.endswith("\n")
    return [[_field(f) for f in line.split("\t")] for line in text[:-1].split("\n")]


STRINGS = ["a\\b", "tab\there", "new\nline", "cr\rhere", "\x1e", ",\x1e,", 'q"uote', "é ☃ 𝄞", ""]
OFFSETS = [0, 330, -480, 16 * 60 + 30, -(23 * 60 + 59)]


def _item(n: int, *, occurred: datetime | None, text: str) -> BatchItem:
    body: dict[str, Any] = {
        "patient_id": f"p-{n % 7}",
        "event_type": "agent_note",
        "payload": {"text": text, "n": n / 7, "nested": {"list": [1, text, None, True]}},
        "labels": [["BH"], [], ["HIV", "BH"]][n % 3],
    }
    if occurred is not None:
        body["occurred_at"] = occurred.isoformat()
    if n % 2:
        body["source"] = f"agent {n}"
        body["idempotency_key"] = f"key-{n}"
    return BatchItem.model_validate(body)


@pytest.mark.parametrize("count", [1, 3, 1001, 2500])
def test_every_field_reads_back_as_the_item_holds_it(count: int) -> None:
    base = datetime(2026, 3, 1, 8, 30, 15, tzinfo=UTC)
    items = []
    for n in range(count):
        offset = timezone(timedelta(minutes=OFFSETS[n % len(OFFSETS)]))
        micro = timedelta(microseconds=123456 if n % 4 == 1 else 0)
        when = None if n % 5 == 3 else (base + timedelta(hours=n) + micro).astimezone(offset)
        items.append(_item(n, occurred=when, text=STRINGS[n % len(STRINGS)]))
    order = sorted(range(count), key=lambda i: (items[i].patient_id, -i))
    rows = _rows(items, order)
    assert [int(str(row[0])) for row in rows] == order
    for row, index in zip(rows, order, strict=True):
        item = items[index]
        _, patient, event_type, payload, occurred, source, labels, key, hashed = row
        assert (patient, event_type) == (item.patient_id, item.event_type)
        assert payload is not None
        assert orjson.loads(payload) == item.payload
        if item.occurred_at is None:
            assert occurred is None
        else:
            assert occurred is not None
            assert occurred.endswith("Z")  # in UTC: PostgreSQL refuses offsets beyond 15:59
            assert datetime.fromisoformat(occurred) == item.occurred_at
        assert source == item.source
        assert labels == "{" + ",".join(sorted(item.labels)) + "}"
        assert key == item.idempotency_key
        if item.idempotency_key is None:
            assert hashed is None
        else:
            assert hashed == "\\x" + item.request_hash().hex()


def test_no_clinical_time_at_all() -> None:
    items = [_item(n, occurred=None, text="x") for n in range(3)]
    assert [row[4] for row in _rows(items, [2, 0, 1])] == [None, None, None]
