"""OAuth 2.0 / OpenID Connect bearer tokens: verify a JWT and turn its claims into a principal.

The signature is checked against the issuer's keys, given as a JWKS document or fetched from
a JWKS URL. Fetched keys are cached for an hour; a token signed with an unknown ``kid``
triggers one refresh (at most every ``oidc_jwks_min_refresh_seconds``, so a flood of bogus
kids cannot hammer the issuer), which is how key rotation at the issuer is picked up.
``iss``, ``aud``, ``exp`` and ``sub`` are required; ``exp`` and ``nbf`` are checked with a
small leeway; only the configured asymmetric algorithms are accepted (never ``none`` or HMAC).

Claims used: ``sub`` (who), the tenant claim (``tenant`` unless configured), ``scope``
(space-separated) or ``scp`` (list), ``patient`` (SMART launch context: the one patient the
token reaches), ``principal_kind`` (agent, user or service; default user) and ``agent_name``
(for agents; else ``azp`` or ``client_id``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx
import jwt

from carelog.domain.audit import PURPOSES_OF_USE
from carelog.domain.principals import TENANT_ID_PATTERN, Credential, Principal, PrincipalKind
from carelog.domain.scopes import needs_patient_list, permissions_for
from carelog.errors import Unauthenticated
from carelog.settings import Settings

MAX_AGE_SECONDS = 3600.0
_TENANT = re.compile(TENANT_ID_PATTERN)


class OidcVerifier:
    """Verifies bearer JWTs for one configured issuer."""

    def __init__(self, settings: Settings, *, http: httpx.AsyncClient | None = None) -> None:
        if not settings.oidc_issuer or not settings.oidc_audience:
            raise ValueError("OIDC needs CARELOG_OIDC_ISSUER and CARELOG_OIDC_AUDIENCE")
        if not (settings.oidc_jwks_url or settings.oidc_jwks):
            raise ValueError("OIDC needs CARELOG_OIDC_JWKS_URL or CARELOG_OIDC_JWKS")
        self.settings = settings
        self._http = http
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        if settings.oidc_jwks:
            self._keys = _parse_jwks(settings.oidc_jwks)

    async def _refresh(self, *, force: bool) -> None:
        url = self.settings.oidc_jwks_url
        if url is None:
            return
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if age < self.settings.oidc_jwks_min_refresh_seconds or (
                not force and age < MAX_AGE_SECONDS
            ):
                return
            self._fetched_at = time.monotonic()
            client = self._http or httpx.AsyncClient(timeout=5.0)
            try:
                response = await client.get(url)
                response.raise_for_status()
                self._keys = _parse_jwks(response.text)
            except (httpx.HTTPError, ValueError):
                # Keep the keys we had; a token signed with a new key fails until a refresh works.
                return
            finally:
                if self._http is None:
                    await client.aclose()

    async def _key_for(self, kid: str | None) -> jwt.PyJWK:
        await self._refresh(force=False)
        key = self._lookup(kid)
        if key is None:
            await self._refresh(force=True)
            key = self._lookup(kid)
        if key is None:
            raise Unauthenticated("The token is signed with an unknown key.")
        return key

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def verify(self, token: str) -> Principal:
        """The principal a valid token names; :class:`Unauthenticated` otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("The bearer token is not a valid JWT.") from None
        key = await self._key_for(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=self.settings.oidc_algorithms,
                audience=self.settings.oidc_audience,
                issuer=self.settings.oidc_issuer,
                leeway=self.settings.oidc_leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"The bearer token was refused: {_reason(exc)}.") from None
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        tenant = claims.get(self.settings.oidc_tenant_claim)
        if not isinstance(tenant, str) or not _TENANT.match(tenant):
            raise Unauthenticated("The token names no valid tenant.")
        scopes = _scopes(claims)
        try:
            permissions = permissions_for(scopes)
            patient_scoped = needs_patient_list(scopes)
            kind = PrincipalKind(claims.get("principal_kind", PrincipalKind.USER.value))
        except ValueError as exc:
            raise Unauthenticated(f"The token's claims are not usable: {exc}.") from None
        patient = claims.get("patient")
        if patient is not None and not isinstance(patient, str):
            raise Unauthenticated("The token's patient claim is not a patient id.")
        if patient_scoped and patient is None:
            raise Unauthenticated("patient/ scopes need a patient claim.")
        agent = claims.get("agent_name") or claims.get("azp") or claims.get("client_id")
        if kind is PrincipalKind.AGENT and not isinstance(agent, str):
            raise Unauthenticated("An agent token needs an agent_name, azp or client_id claim.")
        return Principal(
            key_id=str(claims["sub"])[:200],
            credential=Credential.JWT,
            tenant_id=tenant,
            permissions=permissions,
            kind=kind,
            agent_name=agent if kind is PrincipalKind.AGENT else None,
            patients=frozenset({patient}) if patient is not None else None,
            default_purpose=_purpose(claims),
        )


def _purpose(claims: dict[str, Any]) -> str:
    purpose = claims.get("purpose_of_use", "TREAT")
    if purpose not in PURPOSES_OF_USE:
        raise Unauthenticated("The token's purpose_of_use is not a PurposeOfUse code.")
    return str(purpose)


def _scopes(claims: dict[str, Any]) -> list[str]:
    raw = claims.get("scope", claims.get("scp", []))
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        return raw
    raise Unauthenticated("The token's scope claim is malformed.")


def _parse_jwks(text: str) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    document = json.loads(text)
    for index, entry in enumerate(document.get("keys", [])):
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue  # a key of a type or algorithm we do not support
        keys[str(entry.get("kid", f"#{index}"))] = key
    return keys


def _reason(exc: jwt.PyJWTError) -> str:
    reasons = {
        jwt.ExpiredSignatureError: "expired",
        jwt.ImmatureSignatureError: "not valid yet",
        jwt.InvalidAudienceError: "wrong audience",
        jwt.InvalidIssuerError: "wrong issuer",
        jwt.InvalidSignatureError: "bad signature",
        jwt.MissingRequiredClaimError: "a required claim is missing",
        jwt.InvalidAlgorithmError: "algorithm not allowed",
    }
    for kind, reason in reasons.items():
        if isinstance(exc, kind):
            return reason
    return "invalid token"
