"""Scopes a key or token carries, and the one mapping from scopes to permissions.

Two vocabularies are accepted:

- SMART on FHIR v2 (and v1) scopes: ``<context>/<resource>.<actions>`` where context is
  ``patient``, ``user`` or ``system``, resource is ``*`` and actions are letters of ``cruds``
  (v2) or ``read`` / ``write`` / ``*`` (v1). ``patient/`` scopes only make sense for a
  principal limited to its patients, so they require a patient list.
- Carelog's own: ``events:read``, ``events:write``, ``audit:read``, ``admin``,
  ``break-glass`` and ``sensitive:<label>`` for each sensitivity label (``sensitive:ETH``...).

SMART resources map onto permissions: ``*`` reaches events and workflows; ``Task`` (an
escalation, a care task) and ``Claim`` (a prior-authorization case: Da Vinci PAS submits a
Claim) reach workflows only (``workflows:read`` for ``r``/``s``/``read``, ``workflows:write``
for ``c``/``u``/``d``/``write``). Other resource-specific scopes (``patient/Observation.rs``)
are refused for now: every event type is one resource here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    """What a principal may do. ``admin`` implies every other permission."""

    EVENTS_READ = "events:read"
    EVENTS_WRITE = "events:write"
    AUDIT_READ = "audit:read"
    WORKFLOWS_READ = "workflows:read"
    WORKFLOWS_WRITE = "workflows:write"
    ADMIN = "admin"
    BREAK_GLASS = "break-glass"
    SENSITIVE_BH = "sensitive:BH"
    SENSITIVE_ETH = "sensitive:ETH"
    SENSITIVE_HIV = "sensitive:HIV"
    SENSITIVE_STD = "sensitive:STD"
    SENSITIVE_GDIS = "sensitive:GDIS"
    SENSITIVE_SEX = "sensitive:SEX"


class SensitivityLabel(StrEnum):
    """HL7 v3 ActCode sensitivity labels an event may carry. Reading a labelled event needs
    the matching ``sensitive:<label>`` permission (or break-the-glass)."""

    BH = "BH"  # behavioral health
    ETH = "ETH"  # substance use disorder; records under 42 CFR Part 2
    HIV = "HIV"  # HIV / AIDS
    STD = "STD"  # sexually transmitted disease
    GDIS = "GDIS"  # genetic disease and genetic test results
    SEX = "SEX"  # sexuality and reproductive health

    @property
    def permission(self) -> Permission:
        """The permission that lets a principal see events with this label."""
        return Permission(f"sensitive:{self.value}")


class Context(StrEnum):
    """Whose data a SMART scope reaches."""

    PATIENT = "patient"
    USER = "user"
    SYSTEM = "system"


_SMART = re.compile(r"^(patient|user|system)/([A-Za-z*]+)\.(read|write|\*|[cruds]{1,5})$")
_READ, _WRITE = "read", "write"
# c: create; u: corrections, transitions; d: retractions, cancellations (nothing is deleted).
_V2_ACTIONS = {"c": _WRITE, "u": _WRITE, "d": _WRITE, "r": _READ, "s": _READ}
_V1_ACTIONS = {"read": (_READ,), "write": (_WRITE,), "*": (_READ, _WRITE)}
# What each SMART resource reaches, for reading and for writing.
_RESOURCES: dict[str, dict[str, tuple[Permission, ...]]] = {
    "*": {
        _READ: (Permission.EVENTS_READ, Permission.WORKFLOWS_READ),
        _WRITE: (Permission.EVENTS_WRITE, Permission.WORKFLOWS_WRITE),
    },
    "Task": {_READ: (Permission.WORKFLOWS_READ,), _WRITE: (Permission.WORKFLOWS_WRITE,)},
    "Claim": {_READ: (Permission.WORKFLOWS_READ,), _WRITE: (Permission.WORKFLOWS_WRITE,)},
}


@dataclass(frozen=True, slots=True)
class Grant:
    """What one scope string grants."""

    permissions: frozenset[Permission]
    context: Context | None = None


def parse_scope(scope: str) -> Grant:
    """The grant of one scope string; ``ValueError`` naming the problem when it is not one."""
    if scope in Permission._value2member_map_:
        return Grant(frozenset({Permission(scope)}))
    match = _SMART.match(scope)
    if match is None:
        raise ValueError(
            f"unknown scope {scope!r}: use events:read, events:write, audit:read, admin "
            "or a SMART scope such as patient/*.rs"
        )
    context, resource, actions = match.groups()
    reaches = _RESOURCES.get(resource)
    if reaches is None:
        raise ValueError(
            f"scope {scope!r}: the supported resources are {', '.join(sorted(_RESOURCES))}"
        )
    if actions in _V1_ACTIONS:
        kinds = _V1_ACTIONS[actions]
    else:
        if len(set(actions)) != len(actions) or actions != "".join(
            a for a in "cruds" if a in actions
        ):
            raise ValueError(f"scope {scope!r}: actions must be distinct, in the order cruds")
        kinds = tuple(_V2_ACTIONS[a] for a in actions)
    permissions = frozenset(p for kind in kinds for p in reaches[kind])
    return Grant(permissions, Context(context))


def permissions_for(scopes: Iterable[str]) -> frozenset[Permission]:
    """Every permission the scopes grant together (the one mapping used everywhere)."""
    granted: set[Permission] = set()
    for scope in scopes:
        granted |= parse_scope(scope).permissions
    return frozenset(granted)


def needs_patient_list(scopes: Iterable[str]) -> bool:
    """Whether any scope is a ``patient/`` scope, which only a patient-limited key may hold."""
    return any(parse_scope(s).context is Context.PATIENT for s in scopes)
