"""What an import knows of a resource it met before (``storage.fhir.Remembered``): the key
it is remembered by, whether a resource read now is what is stored, where its event is; and
where an entry stands in its Bundle's answer."""

from __future__ import annotations

from carelog.domain.fhir import Imported, ImportedPatient
from carelog.storage.fhir import Remembered


def resource_key(read: Imported | ImportedPatient) -> tuple[str, str]:
    """What a resource is remembered by: its type and id (a resource without an id, its
    content hash after ``#``, which no FHIR id can be)."""
    return (read.resource_type, read.resource_id or f"#{read.content_hash}")


def same_resource(known: Remembered, version_id: str | None, content_hash: str) -> bool:
    """Whether the resource is what is stored already: the same versionId or content, or
    an earlier version of it (a numeric versionId below the stored one: a history imported
    again, its first versions after its last, changes nothing)."""
    same_version = version_id is not None and known.version_id == version_id
    return same_version or known.content_hash == content_hash or _older(version_id, known)


def _older(version_id: str | None, known: Remembered) -> bool:
    stored = known.version_id
    if version_id is None or stored is None or not (version_id.isdigit() and stored.isdigit()):
        return False
    return len(version_id) <= 18 and len(stored) <= 18 and int(version_id) < int(stored)


def history_location(known: Remembered) -> str:
    """Where the version of a resource stored is: ``Observation/x/_history/2`` (a resource
    without an id by the first event of its chain)."""
    resource_id = known.resource_id if not known.resource_id.startswith("#") else known.chain_id
    return f"{known.resource_type}/{resource_id}/_history/{known.version}"


def position(where: str, order: dict[str, int]) -> tuple[int, int]:
    """Where an entry's outcome goes in the answer: ``Bundle.entry[12]`` by its number,
    anything else in the order it came in (``order``)."""
    head, _, rest = where.partition("[")
    number = rest.split("]", 1)[0]
    return (int(number), 0) if head == "Bundle.entry" and number.isdigit() else (-1, order[where])
