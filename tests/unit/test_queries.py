"""Named queries as they are sent: short enough for psycopg to cache their conversion."""

from __future__ import annotations

import psycopg._queries
import pytest

from carelog.storage.queries import CACHED_QUERY_BYTES, Queries, every_query

pytestmark = pytest.mark.unit

QUERIES = list(every_query())


def test_the_limit_is_psycopgs() -> None:
    assert psycopg._queries.MAX_CACHED_STATEMENT_LENGTH == CACHED_QUERY_BYTES


# Run with $n placeholders through a raw cursor (storage.patient_events.context_candidates).
POSITIONAL = {"context_candidates"}


@pytest.mark.parametrize(("load", "name"), QUERIES, ids=[name for _, name in QUERIES])
def test_every_query_is_sent_without_comments_and_within_the_cached_length(
    load: Queries, name: str
) -> None:
    query = load(name)
    if name not in POSITIONAL:
        assert len(query) <= CACHED_QUERY_BYTES, (name, len(query))
    assert not any(line.lstrip().startswith(b"--") for line in query.splitlines())
    assert query.strip()


def test_positional_queries_number_each_name_once() -> None:
    query, names = Queries("carelog.storage.patient_events").positional("context_candidates")
    assert names[:3] == ("tenant_id", "patient_id", "types")
    assert len(names) == len(set(names)) == 7
    assert b"%(" not in query
    assert b"$7" in query
    assert b"$8" not in query


def test_query_names_are_unique_across_packages() -> None:
    names = [name for _, name in QUERIES]
    assert len(names) == len(set(names)) > 30
