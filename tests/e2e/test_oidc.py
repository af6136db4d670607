"""OAuth 2.0 / OIDC bearer JWTs, with keys this test makes and serves itself on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from carelog.api.app import create_app
from carelog.settings import Settings
from tests.factories import bearer, client_address, make_token, new_patient, new_tenant

pytestmark = pytest.mark.e2e

ISSUER = "https://issuer.carelog.test"
AUDIENCE = "carelog-api"


class Issuer:
    """Signing keys and a JWKS endpoint on 127.0.0.1 that counts its fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.fetches = 0
        self.add_rsa("rsa-1")
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches += 1
                body = json.dumps(issuer.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_rsa(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def add_ec(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        found = []
        for kid, key in self.keys.items():
            algorithm = (
                jwt.algorithms.RSAAlgorithm
                if isinstance(key, rsa.RSAPrivateKey)
                else (jwt.algorithms.ECAlgorithm)
            )
            jwk = json.loads(algorithm.to_jwk(key.public_key()))
            jwk["kid"] = kid
            found.append(jwk)
        return {"keys": found}

    def token(self, kid: str = "rsa-1", **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"user-{uuid.uuid4().hex[:8]}",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "scope": "user/*.cruds",
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        key = self.keys[kid]
        algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    made = Issuer()
    yield made
    made.close()


@pytest.fixture(scope="module")
async def oidc_app(database_url: str, issuer: Issuer) -> AsyncIterator[FastAPI]:
    settings = Settings(
        database_url=database_url,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=issuer.url,
        oidc_jwks_min_refresh_seconds=0.5,
        pool_min_size=1,
        pool_max_size=4,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(oidc_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # Each test from its own address: failed authentication is limited per address.
    transport = httpx.ASGITransport(app=oidc_app, client=client_address())
    async with httpx.AsyncClient(transport=transport, base_url="http://carelog.test") as c:
        yield c


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def _event(patient: str) -> dict[str, object]:
    return {"patient_id": patient, "event_type": "triage_note", "payload": {"severity": "low"}}


async def test_a_valid_token_reads_and_writes(api: httpx.AsyncClient, issuer: Issuer) -> None:
    tenant, patient = new_tenant(), new_patient()
    token = issuer.token(tenant=tenant, sub="dr-synthetic-1")
    written = await api.post("/patient-events", json=_event(patient), headers=bearer(token))
    assert written.status_code == 200, written.text
    assert written.json()["recorded_by"] == "jwt:dr-synthetic-1"
    assert written.json()["recorded_by_kind"] == "user"
    read = await api.get(f"/patient-events/{patient}", headers=bearer(token))
    assert [r["id"] for r in read.json()] == [written.json()["id"]]
    # Another tenant's token sees nothing of it.
    other = issuer.token(tenant=new_tenant())
    assert (await api.get(f"/patient-events/{patient}", headers=bearer(other))).status_code == 404


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        # (exp and nbf: seconds from when the test runs, not from when it was collected,
        # which in a full run is minutes earlier: a token "valid in 120 s" became valid.)
        ({"exp": -120}, "expired"),
        ({"nbf": 120}, "not valid yet"),
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "https://evil.test"}, "wrong issuer"),
        ({"exp": None}, "required claim"),
        ({"tenant": "Not A Tenant!"}, "no valid tenant"),
        ({"tenant": None}, "no valid tenant"),
        ({"scope": "events:everything"}, "not usable"),
        ({"scope": "patient/*.rs"}, "patient claim"),
        ({"principal_kind": "robot"}, "not usable"),
        ({"principal_kind": "agent"}, "agent_name"),
    ],
)
async def test_bad_tokens_are_401(
    api: httpx.AsyncClient, issuer: Issuer, claims: dict[str, Any], reason: str
) -> None:
    now = int(time.time())
    timed = {k: now + v for k, v in claims.items() if k in ("exp", "nbf") and v is not None}
    token = issuer.token(**{"tenant": new_tenant(), **claims, **timed})
    response = await api.get(f"/patient-events/{new_patient()}", headers=bearer(token))
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_leeway_accepts_a_token_just_expired(api: httpx.AsyncClient, issuer: Issuer) -> None:
    tenant, patient = new_tenant(), new_patient()
    token = issuer.token(tenant=tenant, exp=int(time.time()) - 10)
    assert (
        await api.post("/patient-events", json=_event(patient), headers=bearer(token))
    ).is_success


async def test_forged_and_confused_signatures_are_refused(
    api: httpx.AsyncClient, issuer: Issuer
) -> None:
    tenant = new_tenant()
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "x",
        "tenant": tenant,
        "exp": int(time.time()) + 60,
        "scope": "user/*.cruds",
    }
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "rsa-1"})
    public_pem = (
        issuer.keys["rsa-1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    confused = _hs256(claims, public_pem)  # alg confusion: HMAC keyed with the public key
    unsigned = (
        _b64(json.dumps({"alg": "none", "kid": "rsa-1"}).encode())
        + "."
        + _b64(json.dumps(claims).encode())
        + "."
    )
    for token in (forged, confused, unsigned, "a.b.c", "not-a-token"):
        response = await api.get(f"/patient-events/{new_patient()}", headers=bearer(token))
        assert response.status_code == 401, token


async def test_issuer_key_rotation_is_picked_up_once(
    api: httpx.AsyncClient, issuer: Issuer
) -> None:
    tenant, patient = new_tenant(), new_patient()
    first = issuer.token(tenant=tenant)
    assert (
        await api.post("/patient-events", json=_event(patient), headers=bearer(first))
    ).is_success
    issuer.add_ec("ec-2")
    await asyncio.sleep(0.6)  # past the minimum refresh interval configured for this app
    before = issuer.fetches
    rotated = issuer.token(kid="ec-2", tenant=tenant)
    response = await api.get(f"/patient-events/{patient}", headers=bearer(rotated))
    assert response.status_code == 200
    assert issuer.fetches == before + 1
    # A burst of unknown kids right after causes no further fetch.
    claims = {"tenant": tenant}
    issuer.add_rsa("never-published")
    bogus = issuer.token(kid="never-published", **claims)
    del issuer.keys["never-published"]
    for _ in range(5):
        refused = await api.get(f"/patient-events/{patient}", headers=bearer(bogus))
        assert refused.status_code == 401
    assert issuer.fetches == before + 1


async def test_patient_launch_context_limits_the_token(
    api: httpx.AsyncClient, issuer: Issuer
) -> None:
    tenant, mine, other = new_tenant(), new_patient(), new_patient()
    token = issuer.token(tenant=tenant, scope="patient/*.cruds", patient=mine)
    assert (await api.post("/patient-events", json=_event(mine), headers=bearer(token))).is_success
    assert (
        await api.post("/patient-events", json=_event(other), headers=bearer(token))
    ).status_code == 403
    assert (await api.get(f"/patient-events/{other}", headers=bearer(token))).status_code == 404


async def test_agent_tokens_record_the_agent(api: httpx.AsyncClient, issuer: Issuer) -> None:
    token = issuer.token(
        tenant=new_tenant(),
        principal_kind="agent",
        azp="prior-auth-assistant",
        scope="system/*.cruds",
    )
    written = await api.post("/patient-events", json=_event(new_patient()), headers=bearer(token))
    assert written.json()["recorded_by_kind"] == "agent"
    assert written.json()["agent_name"] == "prior-auth-assistant"


async def test_api_keys_still_work_beside_tokens(api: httpx.AsyncClient, oidc_app: FastAPI) -> None:
    tenant = new_tenant()
    token = await make_token(oidc_app.state.runtime.pool, tenant)
    response = await api.post("/patient-events", json=_event(new_patient()), headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["recorded_by"].startswith("key:")


async def test_read_only_token_cannot_write(api: httpx.AsyncClient, issuer: Issuer) -> None:
    token = issuer.token(tenant=new_tenant(), scope="system/*.rs")
    response = await api.post("/patient-events", json=_event(new_patient()), headers=bearer(token))
    assert response.status_code == 403
