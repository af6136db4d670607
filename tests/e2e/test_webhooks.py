"""Webhooks (issue 12): a real receiver on loopback that fails its first answers gets every
delivery, signed (checked by the README's own snippet), one patient's in order, each
delivered once (no timeout here, so the at-least-once guarantee gives no repeat); a dead
letter after the configured attempts, replayed and delivered; a batch and a workflow
transition are delivered too; another tenant's events never; SSRF refusals at creation and
at delivery; the secret shown once; the routes' audit rows."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from carelog.api.app import create_app
from carelog.services.outbox import DeliveryWorker
from carelog.settings import Settings
from carelog.storage.db import Connection, Pool
from tests.factories import audit_rows, client_address, make_key, new_patient, new_tenant, record

pytestmark = pytest.mark.e2e

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
    requests, and to every one while ``failing``; 204 otherwise."""

    fail_first: int = 0
    failing: bool = False
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            status = 503 if self.failing or len(self.requests) < self.fail_first else 204
            self.requests.append(Received(headers, body, status))
        return status

    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]


@contextmanager
def receiver(fail_first: int = 0) -> Iterator[Receiver]:
    target = Receiver(fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            status = target.answer({k.lower(): v for k, v in self.headers.items()}, body)
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


def _lab(patient: str, n: int) -> dict[str, Any]:
    return {"loinc": "4548-4", "test": "HbA1c", "value": 6 + n / 10, "unit": "%"}


async def test_a_failing_receiver_gets_every_delivery_signed_in_order_once(
    settings: Settings, pool: Pool
) -> None:
    tenant = new_tenant()
    admin, writer = await team(pool, tenant)
    verify = readme_verify()
    one, two = new_patient(), new_patient()
    with receiver(fail_first=3) as hook:
        async with instance(settings) as client:
            made = await subscribe(client, admin, hook.url)
            written: dict[str, list[int]] = {one: [], two: []}
            for n in range(5):
                for patient in (one, two) if n < 3 else (one,):
                    written[patient].append(
                        await record(client, writer, patient, "lab_result", _lab(patient, n))
                    )
            found = await settled(client, admin, made["id"], 8)
            events = {
                e: (await client.get(f"/events/{e}", headers=writer)).json()
                for ids in written.values()
                for e in ids
            }
    # The first three answers were 503s: those deliveries were attempted again.
    assert [r.status for r in hook.requests[:3]] == [503, 503, 503]
    assert sum(d["attempts"] for d in found) == len(hook.requests) == 8 + 3
    retried = [d for d in found if d["attempts"] > 1]
    assert retried
    assert all(d["history"][0]["status_code"] == 503 for d in retried)
    assert all(d["history"][-1]["status_code"] == 204 for d in found)
    # Every request is signed; the README's snippet verifies it with the secret.
    for request in hook.requests:
        assert verify(made["secret"], request.headers, request.body)
        assert not verify("whsec_" + "A" * 44, request.headers, request.body)
        tampered = request.body.replace(b'"lab_result"', b'"lab_resulx"')
        assert not verify(made["secret"], request.headers, tampered)
    # Each delivery arrived once, its retries under the same webhook-id.
    delivered = hook.delivered()
    ids = [r.headers["webhook-id"] for r in delivered]
    assert sorted(ids) == sorted(d["webhook_id"] for d in found)
    assert len(set(ids)) == 8
    for request in hook.requests:
        assert request.headers["webhook-id"] in ids
    # One patient's deliveries arrived in the order of its events; the body is the event
    # as the API answers it.
    for patient, event_ids in written.items():
        got = [r.json["data"]["id"] for r in delivered if r.json["data"]["patient_id"] == patient]
        assert got == event_ids
    for request in delivered:
        assert request.json["type"] == "patient_event.recorded"
        assert request.json["subscription_id"] == made["id"]
        assert request.json["data"] == events[request.json["data"]["id"]]


async def test_a_dead_letter_is_replayed_and_delivered(settings: Settings, pool: Pool) -> None:
    tenant = new_tenant()
    admin, writer = await team(pool, tenant)
    patient = new_patient()
    with receiver() as hook:
        hook.failing = True
        async with instance(settings) as client:
            made = await subscribe(client, admin, hook.url, patient_ids=[patient])
            first = await record(client, writer, patient, "lab_result", _lab(patient, 1))
            [dead] = await settled(client, admin, made["id"], 1, frozenset({"dead"}))
            assert dead["attempts"] == LIVE["webhook_max_attempts"]
            assert [a["status_code"] for a in dead["history"]] == [503] * 4
            assert dead["next_attempt_at"] is None
            # A dead letter no longer holds the patient's later deliveries back.
            hook.failing = False
            second = await record(client, writer, patient, "lab_result", _lab(patient, 2))
            await settled(client, admin, made["id"], 2, frozenset({"dead", "delivered"}))
            path = f"/subscriptions/{made['id']}/deliveries/{dead['id']}/replay"
            response = await client.post(path, headers=admin)
            assert response.status_code == 200, response.text
            assert response.json()["state"] == "pending"
            assert response.json()["replays"] == 1
            [again, later] = await settled(client, admin, made["id"], 2)
            assert again["id"] == dead["id"]
            assert again["attempts"] == 5
            again_response = await client.post(path, headers=admin)
            assert again_response.status_code == 409
            assert again_response.json()["code"] == "conflict"
    delivered = hook.delivered()
    assert [r.json["data"]["id"] for r in delivered] == [second, first]
    assert delivered[1].headers["webhook-id"] == dead["webhook_id"] == f"msg_{dead['id']}"
    assert {r.headers["webhook-id"] for r in hook.requests} == {
        dead["webhook_id"],
        later["webhook_id"],
    }


async def test_a_batch_and_a_workflow_transition_are_delivered(
    settings: Settings, pool: Pool
) -> None:
    tenant = new_tenant()
    admin, writer = await team(pool, tenant)
    one, two = new_patient(), new_patient()
    with receiver() as hook:
        async with instance(settings) as client:
            made = await subscribe(client, admin, hook.url)
            labs = await subscribe(client, admin, hook.url, event_types=["lab_result"])
            items = [
                {"patient_id": p, "event_type": "lab_result", "payload": _lab(p, n)}
                for n, p in enumerate([one, two, one])
            ]
            batch = await client.post("/patient-events/batch", json=items, headers=writer)
            assert batch.status_code == 200, batch.text
            body = {"patient_id": two, "severity": "urgent", "reason": "chest pain"}
            opened = await client.post("/escalations", json=body, headers=writer)
            assert opened.status_code == 201, opened.text
            found = await settled(client, admin, made["id"], 4)
            await settled(client, admin, labs["id"], 3)
    assert sorted(d["event_id"] for d in found[:3]) == sorted(batch.json()["ids"])
    assert found[3]["event_type"] == "workflow_transition"
    assert found[3]["patient_id"] == two
    assert len(hook.delivered()) == 7


async def test_another_tenants_events_are_never_delivered(
    settings: Settings, pool: Pool, dba: Connection
) -> None:
    tenant, other = new_tenant(), new_tenant()
    admin, writer = await team(pool, tenant)
    other_admin, other_writer = await team(pool, other)
    patient = new_patient()
    with receiver() as hook:
        async with instance(settings) as client:
            made = await subscribe(client, admin, hook.url)
            # The same patient id in another tenant: its events are that tenant's.
            await record(client, other_writer, patient, "lab_result", _lab(patient, 1))
            await record(client, other_writer, new_patient(), "note", {"text": "synthetic"})
            mine = await record(client, writer, patient, "lab_result", _lab(patient, 2))
            await settled(client, admin, made["id"], 1)
            # The other tenant cannot see the subscription, its deliveries or replay them.
            for path in (f"/subscriptions/{made['id']}", f"/subscriptions/{made['id']}/deliveries"):
                response = await client.get(path, headers=other_admin)
                assert response.status_code == 404, response.text
            assert (await client.get("/subscriptions", headers=other_admin)).json() == []
    assert [r.json["data"]["id"] for r in hook.requests] == [mine]
    cur = await dba.execute(
        "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = %s", (other,)
    )
    assert await cur.fetchone() == (0,)


async def test_a_deactivated_subscription_gets_nothing_more_and_stays_on_record(
    settings: Settings, pool: Pool
) -> None:
    tenant = new_tenant()
    admin, writer = await team(pool, tenant)
    patient = new_patient()
    with receiver() as hook:
        async with instance(settings) as client:
            made = await subscribe(client, admin, hook.url)
            await record(client, writer, patient, "lab_result", _lab(patient, 1))
            await settled(client, admin, made["id"], 1)
            gone = await client.delete(f"/subscriptions/{made['id']}", headers=admin)
            assert gone.status_code == 200, gone.text
            assert gone.json()["active"] is False
            assert gone.json()["deactivated_at"]
            await record(client, writer, patient, "lab_result", _lab(patient, 2))
            await asyncio.sleep(0.3)
            read = await client.get(f"/subscriptions/{made['id']}", headers=admin)
            assert read.status_code == 200
            assert read.json()["active"] is False
            assert len(await deliveries(client, admin, made["id"])) == 1
    assert len(hook.requests) == 1


async def test_a_patient_limited_creator_limits_the_subscription(
    settings: Settings, pool: Pool
) -> None:
    tenant = new_tenant()
    mine, theirs = new_patient(), new_patient()
    admin = await make_key(pool, tenant, "admin", patients=frozenset({mine}))
    _, writer = await team(pool, tenant)
    with receiver() as hook:
        async with instance(settings) as client:
            made = await subscribe(client, admin, hook.url)
            assert made["patients"] == [mine]
            assert made["visible_labels"] is None
            await record(client, writer, theirs, "lab_result", _lab(theirs, 1))
            kept = await record(client, writer, mine, "lab_result", _lab(mine, 1))
            await settled(client, admin, made["id"], 1)
    assert [r.json["data"]["id"] for r in hook.requests] == [kept]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://93.184.215.14/hook", "https"),
        ("https://127.0.0.1/hook", "non-public"),
        ("https://localhost:8443/hook", "non-public"),
        ("https://10.1.2.3/hook", "non-public"),
        ("https://192.168.0.10/hook", "non-public"),
        ("https://169.254.169.254/latest/meta-data", "non-public"),
        ("https://100.64.0.1/hook", "non-public"),
        ("https://[::1]/hook", "non-public"),
        ("https://[::ffff:127.0.0.1]/hook", "non-public"),
        ("https://[fe80::1]/hook", "non-public"),
        ("https://0.0.0.0/hook", "non-public"),
        ("https://user:pw@93.184.215.14/hook", "credentials"),
        ("https://no-such-host.invalid/hook", "resolve"),
    ],
)
async def test_a_target_that_is_not_public_https_is_refused(
    client: httpx.AsyncClient, pool: Pool, url: str, why: str
) -> None:
    tenant = new_tenant()
    admin = await make_key(pool, tenant, "admin")
    response = await client.post("/subscriptions", json={"url": url}, headers=admin)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "webhook-target-refused"
    assert problem["type"] == "urn:carelog:problem:webhook-target-refused"
    assert problem["errors"][0]["field"] == "url"
    assert why in problem["errors"][0]["message"]
    assert (await client.get("/subscriptions", headers=admin)).json() == []


async def test_a_public_https_target_is_accepted_and_its_secret_never_shown_again(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant = new_tenant()
    admin = await make_key(pool, tenant, "admin")
    body = {"url": "https://93.184.215.14/hook", "event_types": ["note", "lab_result"]}
    response = await client.post("/subscriptions", json=body, headers=admin)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    made = response.json()
    secret = made["secret"]
    assert made["event_types"] == ["lab_result", "note"]
    assert made["active"] is True
    for path in ("/subscriptions", f"/subscriptions/{made['id']}",
                 f"/subscriptions/{made['id']}/deliveries"):  # fmt: skip
        read = await client.get(path, headers=admin)
        assert read.status_code == 200, read.text
        assert secret not in read.text
        assert "secret" not in read.text
    gone = await client.delete(f"/subscriptions/{made['id']}", headers=admin)
    assert secret not in gone.text
    assert "secret" not in gone.text
    # Events and workflows keys may not manage subscriptions.
    writer = await make_key(pool, tenant, "events:read", "events:write")
    assert (await client.post("/subscriptions", json=body, headers=writer)).status_code == 403
    assert (await client.get("/subscriptions", headers=writer)).status_code == 403


async def test_the_target_is_checked_again_at_delivery(
    settings: Settings, pool: Pool, dba: Connection
) -> None:
    """A subscription to loopback (allowed where it was made) is not sent to by a worker
    whose service refuses loopback: the attempt is recorded as refused."""
    tenant = new_tenant()
    admin, writer = await team(pool, tenant)
    patient = new_patient()
    with receiver() as hook:
        async with instance(settings, webhook_workers=0) as client:
            made = await subscribe(client, admin, hook.url)
            await record(client, writer, patient, "note", {"text": "synthetic"})
            strict = settings.model_copy(update={**LIVE, "webhook_allow_private_addresses": False})
            worker = DeliveryWorker(pool, strict)
            try:
                assert await worker.run_once()
            finally:
                await worker.client.aclose()
            [attempted] = await deliveries(client, admin, made["id"])
    assert hook.requests == []
    assert attempted["state"] == "pending"
    assert attempted["attempts"] == 1
    assert attempted["history"][0]["error"].startswith("target refused")
    await dba.execute(
        "UPDATE webhook_deliveries SET state = 'cancelled' WHERE tenant_id = %s", (tenant,)
    )


async def test_each_subscription_route_leaves_its_audit_row(
    client: httpx.AsyncClient, pool: Pool, dba: Connection
) -> None:
    tenant = new_tenant()
    admin = await make_key(pool, tenant, "admin")
    made = (
        await client.post(
            "/subscriptions", json={"url": "https://93.184.215.14/hook"}, headers=admin
        )
    ).json()
    sid = made["id"]
    await client.get("/subscriptions", headers=admin)
    await client.get(f"/subscriptions/{sid}", headers=admin)
    await client.get(f"/subscriptions/{sid}/deliveries", headers=admin)
    missing = await client.post(f"/subscriptions/{sid}/deliveries/1/replay", headers=admin)
    assert missing.status_code == 404
    await client.delete(f"/subscriptions/{sid}", headers=admin)
    refused = await client.post("/subscriptions", json={"url": "https://127.0.0.1/"}, headers=admin)
    assert refused.status_code == 422
    rows = [
        (r["route"], r["action"], r["outcome"])
        for r in await audit_rows(pool, tenant)
        if r["route"] and r["route"].startswith("/subscriptions")
    ]
    assert rows == [
        ("/subscriptions", "create", "success"),
        ("/subscriptions", "search", "success"),
        ("/subscriptions/{subscription_id}", "read", "success"),
        ("/subscriptions/{subscription_id}/deliveries", "search", "success"),
        ("/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay", "execute", "failed"),
        ("/subscriptions/{subscription_id}", "update", "success"),
        ("/subscriptions", "create", "failed"),
    ]


async def test_no_event_beyond_what_the_creator_could_read_is_queued(
    client: httpx.AsyncClient, pool: Pool, dba: Connection
) -> None:
    """The trigger holds a subscription to its creator's reach as recorded on it: a
    subscription recorded with the labels ['BH'] (as a creator holding sensitive:BH and no
    other would have it) is queued an unlabelled and a BH event, not an HIV one."""
    tenant = new_tenant()
    writer = await make_key(pool, tenant, "events:read", "events:write")
    patient = new_patient()
    await dba.execute(
        "INSERT INTO webhook_subscriptions (tenant_id, id, url, secret, visible_labels,"
        " created_by) VALUES (%s, gen_random_uuid(), 'https://93.184.215.14/', 'whsec_AA',"
        " ARRAY['BH'], 'test')",
        (tenant,),
    )
    queued = [
        await record(client, writer, patient, "note", {"text": "synthetic"}),
        await record(client, writer, patient, "note", {"text": "synthetic"}, labels=["BH"]),
    ]
    await record(client, writer, patient, "note", {"text": "synthetic"}, labels=["HIV"])
    await record(client, writer, patient, "note", {"text": "synthetic"}, labels=["BH", "HIV"])
    cur = await dba.execute(
        "SELECT event_id FROM webhook_deliveries WHERE tenant_id = %s ORDER BY id", (tenant,)
    )
    assert [row[0] for row in await cur.fetchall()] == queued
    await dba.execute(
        "UPDATE webhook_deliveries SET state = 'cancelled' WHERE tenant_id = %s", (tenant,)
    )
