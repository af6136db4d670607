"""Named SQL queries, loaded once from the ``.sql`` files in ``storage/sql``."""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

# psycopg converts a query's %(name)s placeholders once and caches the result only for
# queries up to this many bytes (psycopg._queries.MAX_CACHED_STATEMENT_LENGTH); a longer one
# is parsed again on every execution (half a millisecond for the context's). The files keep
# their comments; what is sent has none (a test holds every query to the limit).
CACHED_QUERY_BYTES = 4096


@cache
def load(name: str) -> bytes:
    """The query in ``storage/sql/<name>.sql``, to execute with psycopg named parameters:
    comment lines and indentation dropped (the SQL itself is unchanged)."""
    text = files("carelog.storage").joinpath("sql", f"{name}.sql").read_bytes()
    lines = (line.strip() for line in text.splitlines())
    return b"\n".join(line for line in lines if line and not line.startswith(b"--"))


@cache
def load_positional(name: str) -> tuple[bytes, tuple[str, ...]]:
    """The query with its placeholders converted once to ``$1, $2, ...`` and the parameter
    names in that order: for a raw cursor, so that a query longer than psycopg caches the
    conversion of is not converted again on every execution."""
    query = load(name).decode()
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "%"  # %% -> %
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"%(?:\((\w+)\)s|%)", number, query).encode(), tuple(names)
