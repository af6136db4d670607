"""The audit trail's vocabulary, the context a request carries into it, and chain checking."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class AuditAction(StrEnum):
    """What was attempted (FHIR AuditEvent.action: C, R, U, D, E)."""

    CREATE = "create"
    READ = "read"
    SEARCH = "search"
    UPDATE = "update"
    EXECUTE = "execute"


class AuditOutcome(StrEnum):
    """How it ended."""

    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


# HL7 v3 PurposeOfUse (ActReason) codes a request may state in X-Purpose-Of-Use.
PURPOSES_OF_USE = frozenset(
    {
        "TREAT",
        "ETREAT",
        "CAREMGT",
        "CLINTRCH",
        "HPAYMT",
        "HOPERAT",
        "HRESCH",
        "HSYSADMIN",
        "HQUALIMP",
        "HMARKT",
        "HCOMPL",
        "HOUTCOMS",
        "PUBHLTH",
        "PATRQT",
        "FAMRQT",
        "PWATRNY",
        "SUPNWK",
        "COVERAGE",
        "PATADMIN",
        "PATSFTY",
        "BTG",
        "LEGAL",
        "TRAIN",
    }
)

UNKNOWN_TENANT = "-"


@dataclass
class AuditContext:
    """What the audit row of one request needs beyond the principal, and whether it is written.

    Made per request by the request middleware; the auth dependency fills in who and why;
    a service marks ``written`` once its statement has stored the row, and the middleware
    writes a row itself (denied or failed) for any request that ends without one.
    """

    request_id: str
    client_address: str | None
    route: str | None = None
    tenant_id: str = UNKNOWN_TENANT
    principal_kind: str | None = None
    principal_id: str | None = None
    agent_name: str | None = None
    purpose_of_use: str | None = None
    break_glass: bool = False
    break_glass_reason: str | None = None
    written: bool = False

    def params(self) -> dict[str, object]:
        """The audit columns as named query parameters (prefixed ``audit_``)."""
        return {
            "audit_principal_kind": self.principal_kind,
            "audit_principal_id": self.principal_id,
            "audit_agent_name": self.agent_name,
            "audit_route": self.route,
            "audit_purpose": self.purpose_of_use,
            "audit_break_glass": self.break_glass,
            "audit_break_glass_reason": self.break_glass_reason,
            "audit_request_id": self.request_id,
            "audit_client_address": self.client_address,
        }


class AuditEvent(BaseModel):
    """One audit row as listed: ids and codes, never clinical values."""

    id: str
    tenant_id: str
    lane: int
    seq: int
    recorded_at: datetime
    principal_kind: str | None
    principal_id: str | None
    agent_name: str | None
    action: AuditAction
    outcome: AuditOutcome
    status: int | None
    route: str | None
    patient_id: str | None
    event_ids: list[int]
    result_count: int | None
    purpose_of_use: str | None
    break_glass: bool
    break_glass_reason: str | None = None
    request_id: str | None
    client_address: str | None
    attempts: int = Field(
        default=1,
        description="How many attempts this row stands for: 1, or for the repeated failures "
        "of an unknown caller (same address, route, action and status) counted in one window, "
        "their number; the attempts of a set of rows are the sum of this field.",
    )
    first_attempt_at: datetime | None = Field(
        default=None, description="When the first of a counted row's attempts arrived."
    )
    last_attempt_at: datetime | None = Field(
        default=None, description="When the last of a counted row's attempts arrived."
    )


@dataclass(frozen=True, slots=True)
class RepeatedAttempts:
    """Failed attempts of one unknown caller, counted in memory, to be written as one row."""

    client_address: str | None
    route: str | None
    action: AuditAction
    outcome: AuditOutcome
    status: int
    attempts: int
    first_attempt_at: datetime
    last_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class ChainRow:
    """What verification needs of one stored row."""

    lane: int
    seq: int
    prev_hash: bytes
    row_hash: bytes
    expected_hash: bytes


class ChainBreak(BaseModel):
    """The first link that does not hold."""

    lane: int
    seq: int
    reason: str


class ChainReport(BaseModel):
    """The outcome of verifying a tenant's audit chains."""

    tenant_id: str
    ok: bool
    rows: int
    lanes: int
    first_break: ChainBreak | None = None


@dataclass
class _Lane:
    seq: int = 0
    hash: bytes = b""
    rows: list[ChainRow] = field(default_factory=list)


def check_chain(
    tenant_id: str, rows: list[ChainRow], heads: dict[int, tuple[int, bytes]]
) -> ChainReport:
    """Walk each lane in ``seq`` order: contiguous, linked, each hash its content's, and
    ending where the lane's head says. Pure: the rows' expected hashes come with them."""
    lanes: dict[int, _Lane] = {}
    for row in sorted(rows, key=lambda r: (r.lane, r.seq)):
        lanes.setdefault(row.lane, _Lane()).rows.append(row)
    breaks: list[ChainBreak] = []
    for lane_id, lane in sorted(lanes.items()):
        for row in lane.rows:
            if row.seq != lane.seq + 1:
                breaks.append(ChainBreak(lane=lane_id, seq=lane.seq + 1, reason="row missing"))
                break
            if row.prev_hash != lane.hash:
                breaks.append(ChainBreak(lane=lane_id, seq=row.seq, reason="link broken"))
                break
            if row.row_hash != row.expected_hash:
                breaks.append(ChainBreak(lane=lane_id, seq=row.seq, reason="content changed"))
                break
            lane.seq, lane.hash = row.seq, row.row_hash
        else:
            head = heads.get(lane_id)
            if head is None or head != (lane.seq, lane.hash):
                breaks.append(
                    ChainBreak(lane=lane_id, seq=lane.seq + 1, reason="newest rows missing")
                )
    for lane_id, (seq, _) in sorted(heads.items()):
        if lane_id not in lanes and seq > 0:
            breaks.append(ChainBreak(lane=lane_id, seq=1, reason="row missing"))
    first = min(breaks, key=lambda b: (b.lane, b.seq)) if breaks else None
    return ChainReport(
        tenant_id=tenant_id, ok=first is None, rows=len(rows), lanes=len(lanes), first_break=first
    )
