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


# A line of a query that is only ``{{_name}}`` stands for the fragment ``sql/_name.sql``
# (``_audit_row``: the one definition of a request's audit row).
_INCLUDE = re.compile(rb"^\{\{(_\w+)\}\}$")


def _lines(name: str) -> list[bytes]:
    text = files("carelog.storage").joinpath("sql", f"{name}.sql").read_bytes()
    found: list[bytes] = []
    for line in (line.strip() for line in text.splitlines()):
        include = _INCLUDE.match(line)
        if include is not None:
            found.extend(_lines(include[1].decode()))
        elif line and not line.startswith(b"--"):
            found.append(line)
    return found


@cache
def load(name: str) -> bytes:
    """The query in ``storage/sql/<name>.sql``, to execute with psycopg named parameters:
    fragments included, comment lines and indentation dropped (the SQL is unchanged)."""
    return b"\n".join(_lines(name))


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
