"""The audit row of a request has one definition (issue 10, item 3): the fragment
``storage/audit/sql/_audit_row.sql``, which every statement that audits itself includes. Its
contract: it names every column of ``audit_events`` that a request fills, and no statement
writes an audit row another way."""

from __future__ import annotations

import re

import pytest
from psycopg import AsyncConnection

from carelog.storage.queries import Queries, every_query, query_file

pytestmark = pytest.mark.integration

FRAGMENT = "_audit_row"
INCLUDE = "{{audit._audit_row}}"  # elsewhere; {{_audit_row}} within storage/audit
# What a request's row leaves to others: the id, the chain trigger's columns, and the
# counts of an unknown caller's repeated attempts (insert_audit_repeats, not a request).
NOT_THE_REQUESTS = {
    "id", "lane", "seq", "recorded_at", "prev_hash", "row_hash",
    "attempts", "first_attempt_at", "last_attempt_at",
}  # fmt: skip
# The values each including statement gives after the fragment, in this order.
STATEMENT_VALUES = ["action", "outcome", "status", "patient_id", "event_ids", "result_count"]


def _statements() -> list[tuple[Queries, str]]:
    return list(every_query())


def _fragment_columns() -> list[str]:
    code = Queries("carelog.storage.audit")("insert_audit_event").decode()
    listed = re.search(r"INSERT INTO audit_events\s*\(([^)]*)\)", code)
    assert listed is not None
    return [c.strip() for c in listed[1].split(",")]


async def test_the_fragment_names_every_column_a_request_fills(dba: AsyncConnection) -> None:
    cur = await dba.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_events'"
    )
    columns = {row[0] for row in await cur.fetchall()}
    assert set(_fragment_columns()) == columns - NOT_THE_REQUESTS
    assert _fragment_columns()[-6:] == STATEMENT_VALUES


def test_no_statement_writes_an_audit_row_another_way() -> None:
    including = []
    for load, name in _statements():
        text = "\n".join(
            line
            for line in query_file(load.package, name).splitlines()
            if not line.lstrip().startswith("--")
        )
        include = "{{" + FRAGMENT + "}}" if load.package.endswith(".audit") else INCLUDE
        if include in text:
            assert text.count(include) == 1, name
            including.append((load, name))
        elif name != "insert_audit_repeats":
            assert "INSERT INTO audit_events" not in text, name
    # The reads, searches and writes that audit themselves, and the row on its own.
    assert {name for _, name in including} >= {
        "get_event", "insert_audit_event", "insert_event", "insert_event_idempotent",
        "insert_revision", "list_events", "list_events_by_type", "search_events",
    }  # fmt: skip
    for load, name in including:
        assert b"{{" not in load(name)
