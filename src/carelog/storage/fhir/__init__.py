"""What FHIR imports remember, per tenant: each imported resource (its version, content
hash and the event that holds it) and the patients' identifiers. Connection first, the rest
keyword-only; never commits. The events themselves are written by ``storage.patient_events``
(``insert_event``, ``insert_revision``), each with its audit row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from carelog.storage.db import Connection
from carelog.storage.queries import Queries

load = Queries(__name__)


@dataclass(frozen=True, slots=True)
class Remembered:
    """One imported resource as the tenant's imports know it: the versionId and content
    hash it last came with, its patient, the event holding it (``None`` for a Patient), the
    first event of that event's chain, and how many versions imports have written."""

    resource_type: str
    resource_id: str
    version_id: str | None
    content_hash: str
    patient_id: str
    event_id: int | None
    chain_id: int | None
    version: int


async def lookup_imports(
    conn: Connection, *, tenant_id: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Remembered]:
    """The remembered imports among ``keys`` (resource type, resource id), by key."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    cur = await conn.execute(
        load("lookup_imports"),
        {
            "tenant_id": tenant_id,
            "resource_types": [kind for kind, _ in wanted],
            "resource_ids": [rid for _, rid in wanted],
        },
    )
    found = [Remembered(*row) for row in await cur.fetchall()]
    return {(r.resource_type, r.resource_id): r for r in found}


async def remember_imports(
    conn: Connection, *, tenant_id: str, remembered: Sequence[Remembered]
) -> None:
    """Store (or replace) what the tenant's imports know of these resources, in one
    statement (at most one of each resource type and id)."""
    if not remembered:
        return
    await conn.execute(
        load("remember_imports"),
        {
            "tenant_id": tenant_id,
            "resource_types": [r.resource_type for r in remembered],
            "resource_ids": [r.resource_id for r in remembered],
            "version_ids": [r.version_id for r in remembered],
            "content_hashes": [r.content_hash for r in remembered],
            "patient_ids": [r.patient_id for r in remembered],
            "event_ids": [r.event_id for r in remembered],
            "chain_ids": [r.chain_id for r in remembered],
            "versions": [r.version for r in remembered],
        },
    )


async def register_identifiers(
    conn: Connection,
    *,
    tenant_id: str,
    patient_id: str,
    identifiers: Sequence[tuple[str, str]],
) -> list[tuple[str, str, str]]:
    """Register ``identifiers`` (system, value) as naming ``patient_id``, all or none: those
    that already name another patient (system, value, that patient) are returned, and then
    nothing is written."""
    if not identifiers:
        return []
    cur = await conn.execute(
        load("register_identifiers"),
        {
            "tenant_id": tenant_id,
            "patient_id": patient_id,
            "systems": [system for system, _ in identifiers],
            "values": [value for _, value in identifiers],
        },
    )
    return [(str(s), str(v), str(p)) for s, v, p in await cur.fetchall()]


async def resolve_identifier(
    conn: Connection, *, tenant_id: str, system: str, value: str
) -> str | None:
    """The patient that identifier ``system|value`` names in the tenant, if registered."""
    cur = await conn.execute(
        load("resolve_identifier"), {"tenant_id": tenant_id, "system": system, "value": value}
    )
    row = await cur.fetchone()
    return None if row is None else str(row[0])
