"""Readiness: the database answers and the schema is current."""

from __future__ import annotations

from carelog.errors import ServiceUnavailable
from carelog.storage.db import Pool, connection
from carelog.storage.migrate import is_up_to_date


async def check_ready(pool: Pool) -> None:
    """Raise :class:`ServiceUnavailable` unless the database is reachable and migrated."""
    async with connection(pool) as conn:
        current = await is_up_to_date(conn)
    if not current:
        raise ServiceUnavailable("Database migrations are not applied.")
