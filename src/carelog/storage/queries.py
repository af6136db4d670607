"""Named SQL queries, loaded once from the ``sql/`` folder of the storage package they
belong to (``storage/patient_events/sql``, ``storage/audit/sql``, ...)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib.resources import files

# psycopg converts a query's %(name)s placeholders once and caches the result only for
# queries up to this many bytes (psycopg._queries.MAX_CACHED_STATEMENT_LENGTH); a longer one
# is parsed again on every execution (half a millisecond for the context's). The files keep
# their comments; what is sent has none (a test holds every query to the limit).
CACHED_QUERY_BYTES = 4096

# Every storage package that keeps queries in its sql/ folder.
PACKAGES = (
    "carelog.storage.patient_events",
    "carelog.storage.audit",
    "carelog.storage.keys",
    "carelog.storage.event_types",
    "carelog.storage.fhir",
    "carelog.storage.jobs",
    "carelog.storage.workflows",
    "carelog.storage.payers",
    "carelog.storage.feed",
    "carelog.storage.outbox",
)

# A line of a query that is only ``{{_name}}`` stands for the fragment ``sql/_name.sql`` of
# the same package, ``{{package._name}}`` for another storage package's (``audit._audit_row``:
# the one definition of a request's audit row).
_INCLUDE = re.compile(rb"^\{\{(?:(\w+)\.)?(_\w+)\}\}$")


def _lines(package: str, name: str) -> list[bytes]:
    text = files(package).joinpath("sql", f"{name}.sql").read_bytes()
    found: list[bytes] = []
    for line in (line.strip() for line in text.splitlines()):
        include = _INCLUDE.match(line)
        if include is not None:
            other = package if include[1] is None else f"carelog.storage.{include[1].decode()}"
            found.extend(_lines(other, include[2].decode()))
        elif line and not line.startswith(b"--"):
            found.append(line)
    return found


@cache
def _load(package: str, name: str) -> bytes:
    return b"\n".join(_lines(package, name))


@cache
def _positional(package: str, name: str) -> tuple[bytes, tuple[str, ...]]:
    query = _load(package, name).decode()
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "%"  # %% -> %
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"%(?:\((\w+)\)s|%)", number, query).encode(), tuple(names)


class Queries:
    """The queries of one storage package: ``load("name")`` is ``sql/name.sql`` as sent."""

    def __init__(self, package: str) -> None:
        self.package = package

    def __call__(self, name: str) -> bytes:
        """The query, to execute with psycopg named parameters: fragments included, comment
        lines and indentation dropped (the SQL is unchanged)."""
        return _load(self.package, name)

    def positional(self, name: str) -> tuple[bytes, tuple[str, ...]]:
        """The query with its placeholders converted once to ``$1, $2, ...`` and the
        parameter names in that order: for a raw cursor, so that a query longer than psycopg
        caches the conversion of is not converted again on every execution."""
        return _positional(self.package, name)

    def names(self) -> list[str]:
        """Every query of the package (fragments, ``_name``, are not queries)."""
        return sorted(
            p.name.removesuffix(".sql")
            for p in files(self.package).joinpath("sql").iterdir()
            if p.name.endswith(".sql") and not p.name.startswith("_")
        )


def every_query() -> Iterator[tuple[Queries, str]]:
    """Each query of every storage package, with its package's loader."""
    for package in PACKAGES:
        queries = Queries(package)
        for name in queries.names():
            yield queries, name


def query_file(package: str, name: str) -> str:
    """The text of ``sql/<name>.sql`` of a storage package, comments and all."""
    return files(package).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")
