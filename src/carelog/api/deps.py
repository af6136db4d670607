"""Dependencies: the pool, the authenticated principal, and scope checks as typed aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from carelog.domain.principals import Principal, Scope
from carelog.errors import Forbidden, Unauthenticated
from carelog.services import keys as key_service
from carelog.settings import Settings
from carelog.storage.db import Pool

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="carelog"'}


def get_pool(request: Request) -> Pool:
    """The app's connection pool, opened by the lifespan."""
    pool: Pool = request.app.state.pool
    return pool


DbPool = Annotated[Pool, Depends(get_pool)]


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(get_app_settings)]


async def current_principal(request: Request, pool: DbPool) -> Principal:
    """The caller, from ``Authorization: Bearer <key>``; 401 without a valid key."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated(
            "Send an API key as 'Authorization: Bearer <key>'.", headers=_CHALLENGE
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use the Bearer scheme.", headers=_CHALLENGE)
    try:
        return await key_service.authenticate(pool, token.strip())
    except Unauthenticated as exc:
        exc.headers.update(_CHALLENGE)
        raise


def require(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that passes the principal through only if it holds ``scope``."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.has(scope):
            raise Forbidden(f"This key lacks the '{scope.value}' scope.")
        return principal

    return check


EventsRead = Annotated[Principal, Depends(require(Scope.EVENTS_READ))]
EventsWrite = Annotated[Principal, Depends(require(Scope.EVENTS_WRITE))]
