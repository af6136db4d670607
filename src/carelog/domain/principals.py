"""Who is calling: scopes, principals and API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,62}$"
TenantId = Annotated[str, StringConstraints(pattern=TENANT_ID_PATTERN)]


class Scope(StrEnum):
    """Permissions a key can carry. ``admin`` implies every other scope."""

    EVENTS_READ = "events:read"
    EVENTS_WRITE = "events:write"
    ADMIN = "admin"


class Principal(BaseModel):
    """An authenticated caller, bound to one tenant."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    tenant_id: str
    scopes: frozenset[Scope]

    @property
    def name(self) -> str:
        """How this principal is named on what it records."""
        return f"key:{self.key_id}"

    def has(self, scope: Scope) -> bool:
        """Whether this principal may act with ``scope``."""
        return scope in self.scopes or Scope.ADMIN in self.scopes


class ApiKeyCreate(BaseModel):
    """What it takes to issue a key."""

    tenant_id: TenantId
    scopes: frozenset[Scope] = Field(min_length=1)
    name: Annotated[str, StringConstraints(max_length=200)] = ""


class ApiKey(BaseModel):
    """A key as listed: never the secret, never its hash."""

    key_id: str
    tenant_id: str
    name: str
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None = None


class IssuedApiKey(BaseModel):
    """A newly issued key: the only time the secret ``token`` is ever shown."""

    key: ApiKey
    token: str
