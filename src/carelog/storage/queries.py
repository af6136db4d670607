"""Named SQL queries, loaded once from the ``.sql`` files in ``storage/sql``."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load(name: str) -> bytes:
    """The query in ``storage/sql/<name>.sql``, to execute with psycopg named parameters."""
    return files("carelog.storage").joinpath("sql", f"{name}.sql").read_bytes()
