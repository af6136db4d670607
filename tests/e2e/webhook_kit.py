"""What the webhook tests share: a real HTTP receiver on loopback (stdlib http.server in a
thread) that can fail its first answers, an instance of the service whose worker delivers to
it, and the README's verification snippet, loaded from the README itself."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from carelog.api.app import create_app
from carelog.settings import Settings
from carelog.storage.db import Connection, Pool
from tests.factories import client_address, make_key

README = Path(__file__).resolve().parents[2] / "README.md"
# The instance whose worker delivers: http to loopback allowed, quick retries.
LIVE: dict[str, Any] = {
    "webhook_workers": 1,
    "webhook_poll_seconds": 0.05,
    "webhook_backoff_seconds": 0.05,
    "webhook_backoff_max_seconds": 0.2,
    "webhook_max_attempts": 4,
    "webhook_timeout_seconds": 5,
    "webhook_allow_http": True,
    "webhook_allow_private_addresses": True,
}


def readme_verify() -> Callable[[str, dict[str, str], bytes], bool]:
    """The README's verification snippet (the first python block under '## Webhooks')."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Webhooks\n")
    found = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert found is not None
    scope: dict[str, Any] = {}
    exec(compile(found[1], "README.md", "exec"), scope)  # noqa: S102 (the README's own code)
    verify: Callable[[str, dict[str, str], bytes], bool] = scope["verify"]
    return verify


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value


@dataclass
class Receiver:
    """An HTTP receiver on loopback, in a thread: it answers 503 to its first ``fail_first``
    requests, and to every one while ``failing``; 204 otherwise; its first ``slow_first``
    answers come after ``slow_seconds``."""

    fail_first: int = 0
    failing: bool = False
    slow_first: int = 0
    slow_seconds: float = 0.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, float]:
        """The status to answer, and after how long."""
        with self.lock:
            n = len(self.requests)
            status = 503 if self.failing or n < self.fail_first else 204
            self.requests.append(Received(headers, body, status))
        return status, self.slow_seconds if n < self.slow_first else 0.0

    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]


@contextmanager
def receiver(**behaviour: Any) -> Iterator[Receiver]:
    target = Receiver(**behaviour)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            status, delay = target.answer({k.lower(): v for k, v in self.headers.items()}, body)
            time.sleep(delay)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    target.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield target
    finally:
        server.shutdown()
        server.server_close()


@asynccontextmanager
async def instance(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An instance of the service on the test database whose worker delivers."""
    app: FastAPI = create_app(settings.model_copy(update={**LIVE, **changes}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client_address())
        async with httpx.AsyncClient(transport=transport, base_url="http://carelog.test") as c:
            yield c


async def subscribe(
    client: httpx.AsyncClient, admin: dict[str, str], url: str, **filters: Any
) -> dict[str, Any]:
    response = await client.post("/subscriptions", json={"url": url, **filters}, headers=admin)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    assert made["secret"].startswith("whsec_")
    assert response.headers["location"] == f"/subscriptions/{made['id']}"
    return made


async def deliveries(
    client: httpx.AsyncClient, admin: dict[str, str], subscription: str
) -> list[dict[str, Any]]:
    """Every delivery of a subscription, oldest first, following the pages."""
    found: list[dict[str, Any]] = []
    url: str | None = f"/subscriptions/{subscription}/deliveries?limit=3"
    while url is not None:
        response = await client.get(url, headers=admin)
        assert response.status_code == 200, response.text
        found.extend(response.json())
        link = response.headers.get("link")
        url = None if link is None else link.split(">", 1)[0].lstrip("<")
    return found[::-1]


async def settled(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    subscription: str,
    count: int,
    states: frozenset[str] = frozenset({"delivered"}),
    seconds: float = 30,
) -> list[dict[str, Any]]:
    """Wait until the subscription has ``count`` deliveries, all in ``states``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        found = await deliveries(client, admin, subscription)
        if len(found) == count and all(d["state"] in states for d in found):
            return found
        assert loop.time() < deadline, [(d["id"], d["state"], d["attempts"]) for d in found]
        await asyncio.sleep(0.05)


async def team(pool: Pool, tenant: str) -> tuple[dict[str, str], dict[str, str]]:
    """An admin key and a read-write key of the tenant."""
    admin = await make_key(pool, tenant, "admin")
    writer = await make_key(pool, tenant, "events:read", "events:write", "workflows:write")
    return admin, writer


def lab(patient: str, n: int) -> dict[str, Any]:
    return {"loinc": "4548-4", "test": "HbA1c", "value": 6 + n / 10, "unit": "%"}


async def quiet_outbox(dba: Connection) -> None:
    """Cancel every pending delivery of the test database, of any tenant: a test whose worker
    delivers must not be sent what other modules left queued (schemathesis's subscriptions
    to public addresses, the authorization matrix's), which it would try to reach."""
    await dba.execute("UPDATE webhook_deliveries SET state = 'cancelled' WHERE state = 'pending'")
