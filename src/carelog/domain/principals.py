"""Who is calling: scopes, principals and API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from carelog.domain.audit import PURPOSES_OF_USE
from carelog.domain.limits import ClientText, PatientId
from carelog.domain.scopes import Permission, SensitivityLabel, needs_patient_list, parse_scope

TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,62}$"
TenantId = Annotated[str, StringConstraints(pattern=TENANT_ID_PATTERN)]


def _check_scope(value: str) -> str:
    parse_scope(value)
    return value


ScopeString = Annotated[str, StringConstraints(max_length=64), AfterValidator(_check_scope)]


class PrincipalKind(StrEnum):
    """What a principal is: recorded on everything it writes."""

    AGENT = "agent"
    USER = "user"
    SERVICE = "service"


# Key ids are made by the service (hex today); the rule only keeps out what no id can hold.
KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]

AgentName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._:/@+\-]{0,127}$")]


class Credential(StrEnum):
    """How a principal authenticated."""

    KEY = "key"
    JWT = "jwt"
    # The operator at the command line (``carelog workflows show``): the database's own user.
    OPERATOR = "operator"


class Principal(BaseModel):
    """An authenticated caller, bound to one tenant."""

    model_config = ConfigDict(frozen=True)

    key_id: str = Field(description="The API key's id, or the token's subject.")
    credential: Credential = Credential.KEY
    tenant_id: str
    permissions: frozenset[Permission]
    kind: PrincipalKind = PrincipalKind.SERVICE
    agent_name: str | None = None
    expires_at: datetime | None = None
    patients: frozenset[str] | None = Field(
        default=None, description="The only patients this principal may reach (None: all)."
    )
    default_purpose: str = "TREAT"

    @property
    def name(self) -> str:
        """How this principal is named on what it records."""
        return f"{self.credential.value}:{self.key_id}"

    def has(self, permission: Permission) -> bool:
        """Whether this principal holds ``permission`` (``admin`` holds them all)."""
        return permission in self.permissions or Permission.ADMIN in self.permissions

    def visible_labels(self) -> frozenset[str]:
        """The sensitivity labels this principal may see without breaking the glass."""
        return frozenset(label.value for label in SensitivityLabel if self.has(label.permission))

    def may_reach(self, patient_id: str) -> bool:
        """Whether this principal may see or write ``patient_id``'s data."""
        return self.patients is None or patient_id in self.patients


class ApiKeyCreate(BaseModel):
    """What it takes to issue a key. Agents must be named; the name lands on their events."""

    tenant_id: TenantId
    scopes: frozenset[ScopeString] = Field(min_length=1, max_length=32)
    name: Annotated[ClientText, StringConstraints(max_length=200)] = ""
    kind: PrincipalKind = PrincipalKind.SERVICE
    agent_name: AgentName | None = None
    expires_at: AwareDatetime | None = None
    patients: frozenset[PatientId] | None = Field(default=None, min_length=1, max_length=1000)
    default_purpose: str = Field(
        default="TREAT", description="Purpose of use recorded when a request states none."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ApiKeyCreate:
        if self.kind is PrincipalKind.AGENT and self.agent_name is None:
            raise ValueError("an agent key needs an agent name")
        if needs_patient_list(self.scopes) and self.patients is None:
            raise ValueError("patient/ scopes need the patients the key is limited to")
        if self.default_purpose not in PURPOSES_OF_USE:
            raise ValueError("the default purpose must be an HL7 PurposeOfUse code, e.g. TREAT")
        return self


class ApiKey(BaseModel):
    """A key as listed: never the secret, never its hash."""

    key_id: str
    tenant_id: str
    name: str
    scopes: list[str]
    kind: PrincipalKind
    agent_name: str | None = None
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = None
    patients: list[str] | None = None
    default_purpose: str = "TREAT"

    def status(self, now: datetime) -> str:
        """``active``, ``revoked``, ``expired`` or ``rotated`` (still valid until it expires)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "rotated" if self.replaced_by else "active"


class IssuedApiKey(BaseModel):
    """A newly issued key: the only time the secret ``token`` is ever shown."""

    key: ApiKey
    token: str
