"""The tenant's payer table: per payer, its decision time frames and, per service code
(CPT/HCPCS), whether prior authorization is needed and which documents or answers it
requires (what the CMS Prior Authorization API, due 1 January 2027, must list). A new
prior-authorization case takes its checklist from here.

Time frames: CMS-0057-F has impacted payers decide within 72 hours for expedited and 7
calendar days for standard requests (in force since 1 January 2026; 42 CFR 422.122 for
Medicare Advantage). A payer's row may set others (a state's rule can be stricter; a QHP
issuer on the exchanges is exempt). Appeals (reconsiderations) default to 72 hours expedited
and 30 days standard, the Medicare Advantage pre-service time frames; set the payer's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints
from pydantic_core import PydanticCustomError

from carelog.domain.limits import ClientText

# A CPT code (five digits; category II ends in F, III in T, PLA codes in U) or a HCPCS
# Level II code (a letter A-V and four digits).
SERVICE_CODE_PATTERN = r"^([0-9]{4}[0-9FTU]|[A-V][0-9]{4})$"
ServiceCode = Annotated[str, StringConstraints(pattern=SERVICE_CODE_PATTERN)]
PAYER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
PayerId = Annotated[str, StringConstraints(pattern=PAYER_ID_PATTERN)]
RequirementId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
Name = Annotated[ClientText, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[ClientText, StringConstraints(min_length=1, max_length=1000)]

HOUR = 3600
DECISION_HOURS = {"expedited": 72, "standard": 7 * 24}
APPEAL_HOURS = {"expedited": 72, "standard": 30 * 24}
MAX_SERVICES = 2000
MAX_REQUIREMENTS = 20


def _unique(key: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, list):
            seen = [item.get(key) for item in value if isinstance(item, dict)]
            if len(seen) != len(set(map(repr, seen))):
                raise PydanticCustomError("repeated_key", f"each {key} may appear once")
        return value

    return BeforeValidator(check)


class Requirement(BaseModel):
    """A document or an answer a payer requires for a service."""

    model_config = ConfigDict(extra="forbid")

    id: RequirementId = Field(description="Its id within the service (e.g. clinical-notes).")
    description: Description
    kind: Literal["document", "answer"] = "document"


class ServiceRule(BaseModel):
    """Whether a service code needs prior authorization with this payer, and for what."""

    model_config = ConfigDict(extra="forbid")

    code: ServiceCode
    requires_auth: StrictBool = True
    requirements: Annotated[
        list[Requirement], _unique("id"), Field(max_length=MAX_REQUIREMENTS)
    ] = Field(default_factory=list)


class TimeFrames(BaseModel):
    """Hours a payer has for a decision, per urgency."""

    model_config = ConfigDict(extra="forbid")

    expedited: Annotated[int, Field(ge=1, le=30 * 24)]
    standard: Annotated[int, Field(ge=1, le=60 * 24)]


class PayerRules(BaseModel):
    """A payer's row in the tenant's payer table (``PUT /payers/{payer_id}``)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    decision_hours: TimeFrames = Field(
        default_factory=lambda: TimeFrames(**DECISION_HOURS),
        description="Hours to a decision (defaults: CMS-0057-F, 72 expedited, 168 standard).",
    )
    appeal_hours: TimeFrames = Field(
        default_factory=lambda: TimeFrames(**APPEAL_HOURS),
        description="Hours to an appeal's decision (defaults: 72 expedited, 720 standard).",
    )
    services: Annotated[list[ServiceRule], _unique("code"), Field(max_length=MAX_SERVICES)] = Field(
        default_factory=list, description="Per service code: is it needed, and for what."
    )


class PayerView(PayerRules):
    """A payer's row as the API answers it."""

    id: str
    updated_at: str
    updated_by: str


@dataclass(frozen=True, slots=True)
class StoredPayer:
    """A payer's rules as stored, and when and by whom they were last set."""

    payer_id: str
    rules: Mapping[str, Any]
    updated_at: datetime
    updated_by: str


def decision_seconds(payer: Mapping[str, Any] | None, urgency: str, *, appeal: bool) -> int:
    """How long the payer has to decide (an appeal, with ``appeal``), in seconds."""
    key = "appeal_hours" if appeal else "decision_hours"
    defaults = APPEAL_HOURS if appeal else DECISION_HOURS
    hours = ((payer or {}).get(key) or {}).get(urgency, defaults[urgency])
    return int(hours) * HOUR


def checklist(
    payer: Mapping[str, Any] | None, codes: Sequence[str]
) -> tuple[dict[str, bool | None], list[dict[str, Any]]]:
    """For the service codes of a case's lines: whether each needs prior authorization with
    the payer (None: the payer's row says nothing of it), and the checklist items its rules
    require, one per (code, requirement), ids ``<code>.<requirement>``."""
    rules = {rule["code"]: rule for rule in (payer or {}).get("services") or ()}
    needed: dict[str, bool | None] = {}
    items: list[dict[str, Any]] = []
    for code in dict.fromkeys(codes):
        rule = rules.get(code)
        needed[code] = None if rule is None else bool(rule.get("requires_auth", True))
        if rule is None or not needed[code]:
            continue
        for requirement in rule.get("requirements") or ():
            items.append(
                {
                    "id": f"{code}.{requirement['id']}",
                    "code": code,
                    "description": requirement["description"],
                    "kind": requirement.get("kind", "document"),
                    "source": "payer",
                    "satisfied_by": None,
                }
            )
    return needed, items
