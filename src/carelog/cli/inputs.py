"""Checks of what an operator types, by the same domain types the API uses: a value the
database could not take (a NUL, a malformed id) is a usage error naming the option, before
any command reaches for the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import StringConstraints, TypeAdapter, ValidationError

from carelog.domain.principals import KeyId, TenantId

T = TypeVar("T")

# An address to listen on: a host name, IPv4 or IPv6 address (uvicorn resolves it).
Host = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.:\-\[\]%]{1,253}$")]

# The service's base URL, for commands that talk to it over HTTP.
ServiceUrl = Annotated[str, StringConstraints(pattern=r"^https?://[!-~]{1,2000}$")]


def checked(kind: Any) -> Callable[[T], T]:
    """A typer callback that lets a value through only if it is a valid ``kind``."""
    adapter: TypeAdapter[Any] = TypeAdapter(kind)

    def check(value: T) -> T:
        if value is None:
            return value
        try:
            adapter.validate_python(value)
        except ValidationError as exc:
            raise typer.BadParameter(exc.errors()[0]["msg"]) from None
        return value

    return check


tenant_id = checked(TenantId)
key_id = checked(KeyId)
host = checked(Host)
service_url = checked(ServiceUrl)
