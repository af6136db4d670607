"""API keys: issue, authenticate, rotate, list, revoke, and the admin key of a fresh database.

A token is ``clk_<key id>_<secret>`` with 256 random bits of secret. Only its SHA-256 is
stored: a fast hash is right for high-entropy tokens (nothing to brute-force), and it keeps
authentication to one indexed lookup per request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from carelog.domain.principals import (
    ApiKey,
    ApiKeyCreate,
    IssuedApiKey,
    Principal,
    PrincipalKind,
)
from carelog.domain.scopes import Permission
from carelog.errors import NotFound, Unauthenticated, ValidationFailed
from carelog.services.auth.principal_cache import PrincipalCache
from carelog.storage import keys as key_store
from carelog.storage.db import Connection, Pool, connection

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


async def _insert(conn: Connection, request: ApiKeyCreate) -> IssuedApiKey:
    key_id, token = _new_token()
    await key_store.ensure_tenant(conn, tenant_id=request.tenant_id)
    key = await key_store.insert_api_key(
        conn, key_id=key_id, key_hash=hash_token(token), request=request
    )
    return IssuedApiKey(key=key, token=token)


async def issue_key(pool: Pool, request: ApiKeyCreate) -> IssuedApiKey:
    """Create a key for ``request.tenant_id`` (creating the tenant if new). Shown once."""
    async with connection(pool, request.tenant_id) as conn, conn.transaction():
        return await _insert(conn, request)


async def rotate_key(
    pool: Pool,
    key_id: str,
    *,
    grace: timedelta,
    cache: PrincipalCache | None = None,
    tenant_id: str | None = None,
) -> IssuedApiKey:
    """Issue a replacement with the same tenant, scopes, kind and names; keep both valid for
    ``grace``, after which the old key expires (earlier if it was going to anyway)."""
    if grace < timedelta(0):
        raise ValidationFailed("The grace period cannot be negative.")
    async with connection(pool, tenant_id) as conn, conn.transaction():
        old = await key_store.get_live_api_key_for_update(conn, key_id=key_id)
        if old is None:
            raise NotFound("No live API key with that id.")
        issued = await _insert(
            conn,
            ApiKeyCreate(
                tenant_id=old.tenant_id,
                scopes=frozenset(old.scopes),
                name=old.name,
                kind=old.kind,
                agent_name=old.agent_name,
                expires_at=old.expires_at,
                patients=None if old.patients is None else frozenset(old.patients),
                default_purpose=old.default_purpose,
            ),
        )
        await key_store.retire_api_key(
            conn, key_id=key_id, replaced_by=issued.key.key_id, grace=grace
        )
        await key_store.notify_keys_changed(conn)
    if cache is not None:
        cache.invalidate()
    return issued


def is_cached(token: str, cache: PrincipalCache) -> bool:
    """Whether this process knows ``token``'s principal without the database (a key it
    found valid a moment ago, and that nothing has revoked since)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_CHARS:
        return False
    return cache.get(hash_token(token)) is not None


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
    async with connection(pool, tenant_id) as conn:
        return await key_store.list_api_keys(conn, tenant_id=tenant_id)


async def revoke_key(
    pool: Pool,
    key_id: str,
    cache: PrincipalCache | None = None,
    *,
    tenant_id: str | None = None,
) -> ApiKey:
    """Revoke a key; it fails on the very next request, in every process.

    The NOTIFY commits with the revocation, so each process's cache is emptied as it
    arrives; ``cache`` (this process's) is emptied before returning. Under row-level
    security (the service's pool) only ``tenant_id``'s keys can be revoked.
    """
    async with connection(pool, tenant_id) as conn, conn.transaction():
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
    async with connection(pool) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_BOOTSTRAP_LOCK_ID,))
        if await key_store.count_api_keys(conn) > 0:
            return None
        return await _insert(
            conn,
            ApiKeyCreate(
                tenant_id=DEFAULT_TENANT,
                scopes=frozenset({Permission.ADMIN.value}),
                name="bootstrap admin",
                kind=PrincipalKind.USER,
            ),
        )
