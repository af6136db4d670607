"""API keys: issue, authenticate, list, revoke, and the admin key of a fresh database.

A token is ``clk_<key id>_<secret>`` with 256 random bits of secret. Only its SHA-256 is
stored: a fast hash is right for high-entropy tokens (nothing to brute-force), and it keeps
authentication to one indexed lookup per request.
"""

from __future__ import annotations

import hashlib
import secrets

from carelog.domain.principals import ApiKey, ApiKeyCreate, IssuedApiKey, Principal, Scope
from carelog.errors import NotFound, Unauthenticated
from carelog.services.principal_cache import PrincipalCache
from carelog.storage import keys as key_store
from carelog.storage.db import Pool, connection

TOKEN_PREFIX = "clk_"  # noqa: S105 - a public prefix, not a secret
DEFAULT_TENANT = "default"
_BOOTSTRAP_LOCK_ID = 0x6361_7265_6B65_79
_MAX_TOKEN_CHARS = 200


def hash_token(token: str) -> bytes:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).digest()


def _new_token() -> tuple[str, str]:
    key_id = secrets.token_hex(6)
    return key_id, f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


async def issue_key(pool: Pool, request: ApiKeyCreate) -> IssuedApiKey:
    """Create a key for ``request.tenant_id`` (creating the tenant if new). Shown once."""
    key_id, token = _new_token()
    async with connection(pool) as conn, conn.transaction():
        await key_store.ensure_tenant(conn, tenant_id=request.tenant_id)
        key = await key_store.insert_api_key(
            conn,
            key_id=key_id,
            tenant_id=request.tenant_id,
            name=request.name,
            key_hash=hash_token(token),
            scopes=sorted(s.value for s in request.scopes),
        )
    return IssuedApiKey(key=key, token=token)


async def authenticate(pool: Pool, token: str, cache: PrincipalCache | None = None) -> Principal:
    """The principal behind a bearer token; :class:`Unauthenticated` if unknown or revoked."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_CHARS:
        raise Unauthenticated("Invalid API key.")
    key_hash = hash_token(token)
    if cache is not None:
        cached = cache.get(key_hash)
        if cached is not None:
            return cached
        generation = cache.generation
    async with connection(pool) as conn:
        principal = await key_store.find_principal(conn, key_hash=key_hash)
    if principal is None:
        raise Unauthenticated("Invalid or revoked API key.")
    if cache is not None:
        cache.put(key_hash, principal, generation)
    return principal


async def list_keys(pool: Pool, *, tenant_id: str | None = None) -> list[ApiKey]:
    """Keys of one tenant, or of every tenant (operators only)."""
    async with connection(pool) as conn:
        return await key_store.list_api_keys(conn, tenant_id=tenant_id)


async def revoke_key(pool: Pool, key_id: str, cache: PrincipalCache | None = None) -> ApiKey:
    """Revoke a key; it fails on the very next request, in every process.

    The NOTIFY commits with the revocation, so each process's cache is emptied as it
    arrives; ``cache`` (this process's) is emptied before returning.
    """
    async with connection(pool) as conn, conn.transaction():
        key = await key_store.revoke_api_key(conn, key_id=key_id)
        if key is not None:
            await key_store.notify_keys_changed(conn)
    if cache is not None:
        cache.invalidate()
    if key is None:
        raise NotFound("No live API key with that id.")
    return key


async def bootstrap_admin_key(pool: Pool) -> IssuedApiKey | None:
    """On a database with no key at all, issue the first admin key; otherwise ``None``.

    Serialized by a transaction-level advisory lock, so two processes starting at once
    issue exactly one key between them.
    """
    key_id, token = _new_token()
    async with connection(pool) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_BOOTSTRAP_LOCK_ID,))
        if await key_store.count_api_keys(conn) > 0:
            return None
        await key_store.ensure_tenant(conn, tenant_id=DEFAULT_TENANT)
        key = await key_store.insert_api_key(
            conn,
            key_id=key_id,
            tenant_id=DEFAULT_TENANT,
            name="bootstrap admin",
            key_hash=hash_token(token),
            scopes=[Scope.ADMIN.value],
        )
    return IssuedApiKey(key=key, token=token)
