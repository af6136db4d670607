"""A bearer credential to its principal, for every door (the REST dependency, the MCP server):
a Carelog API key, or a JWT of the configured OpenID Connect issuer."""

from __future__ import annotations

from carelog.domain.principals import Principal
from carelog.services.auth import keys
from carelog.services.runtime import Runtime


async def authenticate_bearer(runtime: Runtime, token: str) -> Principal:
    """The principal ``token`` names; :class:`~carelog.errors.Unauthenticated` if none. A key's
    use is recorded (in memory, flushed in the background)."""
    if token.startswith(keys.TOKEN_PREFIX) or runtime.oidc is None:
        principal = await keys.authenticate(runtime.pool, token, runtime.principal_cache)
        runtime.key_use.touch(principal.key_id)
        return principal
    return await runtime.oidc.verify(token)
