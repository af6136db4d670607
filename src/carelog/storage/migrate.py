"""Forward-only migrations: numbered ``.sql`` files applied in order under an advisory lock.

Each file runs in its own transaction and is recorded with its SHA-256; a file edited after it
was applied is an error, never silently re-run. Two processes starting at once serialize on
the lock, and the second finds nothing left to do.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from psycopg import AsyncConnection

from carelog.errors import MigrationError

# An arbitrary constant naming Carelog's migration lock (pg_advisory_lock takes a bigint).
MIGRATION_LOCK_ID = 0x6361_7265_6C6F_67

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = b"""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered migration file."""

    version: int
    name: str
    sql: bytes

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's bytes."""
        return hashlib.sha256(self.sql).hexdigest()


def available_migrations() -> list[Migration]:
    """The migrations shipped with this version, in order."""
    found = []
    for entry in files("carelog.storage").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_bytes()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return found


async def applied_migrations(conn: AsyncConnection[Any]) -> dict[int, str]:
    """Applied versions and their recorded checksums (empty on a database never migrated)."""
    cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return {}
    cur = await conn.execute("SELECT version, checksum FROM schema_migrations")
    return {int(v): str(c) for v, c in await cur.fetchall()}


def _check_applied(applied: dict[int, str], migrations: list[Migration]) -> None:
    known = {m.version: m for m in migrations}
    for version, checksum in applied.items():
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"database has migration {version:04d}, which this version does not know"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {version:04d}_{migration.name} was edited after it was applied"
            )


async def is_up_to_date(conn: AsyncConnection[Any]) -> bool:
    """Whether every shipped migration is applied, unedited."""
    migrations = available_migrations()
    applied = await applied_migrations(conn)
    try:
        _check_applied(applied, migrations)
    except MigrationError:
        return False
    return all(m.version in applied for m in migrations)


async def migrate(conn: AsyncConnection[Any]) -> list[Migration]:
    """Apply what is pending on an autocommit connection; return what this call applied."""
    migrations = available_migrations()
    done: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
    try:
        await conn.execute(_CREATE_TABLE)
        applied = await applied_migrations(conn)
        _check_applied(applied, migrations)
        for migration in migrations:
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            done.append(migration)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    return done
