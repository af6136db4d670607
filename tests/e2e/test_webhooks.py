"""Webhooks (issue 12), delivery: a real receiver on loopback that fails its first answers
gets every delivery, signed (checked by the README's own snippet), one patient's in order,
each once (no timeout here, so the at-least-once guarantee gives no repeat); a receiver that
answers after the timeout sees one webhook-id twice (the documented guarantee); a dead letter
after the configured attempts, replayed and delivered; a delivery whose worker died, and one
queued while no worker ran, sent by the next; a batch and a workflow transition delivered
too; another tenant's events never; the target checked again at delivery."""

from __future__ import annotations

import asyncio
import time

import pytest

from carelog.services.outbox import DeliveryWorker
from carelog.settings import Settings
from carelog.storage import outbox as outbox_store
from carelog.storage.db import Connection, Pool, connection
from tests.e2e.fhir_import_kit import heart_rate, ndjson, of, put
from tests.e2e.fhir_import_kit import lab as fhir_lab
from tests.e2e.webhook_kit import (
    LIVE,
    deliveries,
    instance,
    lab,
    quiet_outbox,
    readme_verify,
    receiver,
    settled,
    subscribe,
    team,
)
from tests.factories import audit_rows, make_key, new_patient, new_tenant, record

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
async def _quiet(dba: Connection) -> None:
    await quiet_outbox(dba)


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
                        await record(client, writer, patient, "lab_result", lab(patient, n))
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
    # Each attempt is a disclosure on the tenant's audit trail: the event, its patient, the
    # address it went to, the receiver's status.
    rows = [r for r in await audit_rows(pool, tenant) if r["route"] == "webhook"]
    assert len(rows) == len(hook.requests)
    assert sorted((r["outcome"], r["status"]) for r in rows) == sorted(
        [("failed", 503)] * 3 + [("success", 204)] * 8
    )
    by_event = {e: p for p, ids in written.items() for e in ids}
    for row in rows:
        assert row["action"] == "read"
        assert row["principal_id"] == f"webhook:{made['id']}"
        assert row["client_address"] == "127.0.0.1"
        [event_id] = row["event_ids"]
        assert row["patient_id"] == by_event[event_id]
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
            first = await record(client, writer, patient, "lab_result", lab(patient, 1))
            [dead] = await settled(client, admin, made["id"], 1, frozenset({"dead"}))
            assert dead["attempts"] == LIVE["webhook_max_attempts"]
            assert [a["status_code"] for a in dead["history"]] == [503] * 4
            assert dead["next_attempt_at"] is None
            # A dead letter no longer holds the patient's later deliveries back.
            hook.failing = False
            second = await record(client, writer, patient, "lab_result", lab(patient, 2))
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
                {"patient_id": p, "event_type": "lab_result", "payload": lab(p, n)}
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
            await record(client, other_writer, patient, "lab_result", lab(patient, 1))
            await record(client, other_writer, new_patient(), "note", {"text": "synthetic"})
            mine = await record(client, writer, patient, "lab_result", lab(patient, 2))
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
            await record(client, writer, patient, "lab_result", lab(patient, 1))
            await settled(client, admin, made["id"], 1)
            gone = await client.delete(f"/subscriptions/{made['id']}", headers=admin)
            assert gone.status_code == 200, gone.text
            assert gone.json()["active"] is False
            assert gone.json()["deactivated_at"]
            await record(client, writer, patient, "lab_result", lab(patient, 2))
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
            await record(client, writer, theirs, "lab_result", lab(theirs, 1))
            kept = await record(client, writer, mine, "lab_result", lab(mine, 1))
            await settled(client, admin, made["id"], 1)
    assert [r.json["data"]["id"] for r in hook.requests] == [kept]


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


async def test_a_receiver_that_answers_after_the_timeout_sees_the_delivery_again(
    settings: Settings, pool: Pool
) -> None:
    """The documented limit of at least once: the first answer (a 204) came after the
    timeout, so the delivery was sent again, under the same webhook-id, for the receiver to
    deduplicate; nothing else is repeated."""
    tenant = new_tenant()
    admin, writer = await team(pool, tenant)
    patient = new_patient()
    with receiver(slow_first=1, slow_seconds=1.5) as hook:
        async with instance(settings, webhook_timeout_seconds=0.5) as client:
            made = await subscribe(client, admin, hook.url)
            first = await record(client, writer, patient, "lab_result", lab(patient, 1))
            second = await record(client, writer, patient, "lab_result", lab(patient, 2))
            one, two = await settled(client, admin, made["id"], 2)
    assert [a["error"] for a in one["history"]] == ["timeout", None]
    assert [a["status_code"] for a in two["history"]] == [204]
    seen = [(r.headers["webhook-id"], r.json["data"]["id"]) for r in hook.requests]
    assert seen == [
        (one["webhook_id"], first),
        (one["webhook_id"], first),
        (two["webhook_id"], second),
    ]


async def test_a_delivery_whose_worker_died_and_one_queued_with_no_worker_are_sent(
    settings: Settings, pool: Pool
) -> None:
    """The outbox is the database's: an event written while no worker runs is delivered by
    the next instance that has one, and a delivery a worker leased and never finished (it
    died mid-attempt) is sent again once its lease runs out."""
    tenant = new_tenant()
    admin, writer = await team(pool, tenant)
    one, two = new_patient(), new_patient()
    with receiver() as hook:
        async with instance(settings, webhook_workers=0) as client:
            made = await subscribe(client, admin, hook.url)
            leased = await record(client, writer, one, "lab_result", lab(one, 1))
            async with connection(pool) as conn:  # a worker claims it, then dies
                claimed = await outbox_store.claim_delivery(conn, lease_seconds=1.0)
            assert claimed is not None
            assert claimed.tenant_id == tenant
            queued = await record(client, writer, two, "lab_result", lab(two, 1))
        started = time.monotonic()
        async with instance(settings) as client:  # the next instance, with a worker
            found = await settled(client, admin, made["id"], 2)
    assert all(d["attempts"] == 1 for d in found)
    delivered = [r.json["data"]["id"] for r in hook.requests]
    assert sorted(delivered) == sorted([leased, queued])
    assert delivered[-1] == leased  # after its lease
    assert time.monotonic() - started < 30


async def test_the_connection_goes_to_the_checked_address_with_the_hosts_name(
    settings: Settings, pool: Pool
) -> None:
    """A URL naming a host is sent to an address its check passed, each in turn while the
    connection is refused (localhost may resolve to ::1 first; the receiver listens on
    127.0.0.1 only), with the host's name in Host."""
    tenant = new_tenant()
    admin, writer = await team(pool, tenant)
    patient = new_patient()
    with receiver() as hook:
        async with instance(settings) as client:
            made = await subscribe(client, admin, f"http://localhost:{hook.port}/hook")
            await record(client, writer, patient, "note", {"text": "synthetic"})
            await settled(client, admin, made["id"], 1)
    [request] = hook.requests
    assert request.headers["host"] == f"localhost:{hook.port}"


async def test_a_fhir_import_is_delivered(settings: Settings, pool: Pool) -> None:
    """POST /fhir/$import writes through the batch COPY path: the trigger covers it too."""
    tenant = new_tenant()
    admin, writer = await team(pool, tenant)
    patient = new_patient()
    lines = ndjson(heart_rate("hr-1", patient, 71), fhir_lab("g-1", of(patient), 98.0))
    with receiver() as hook:
        async with instance(settings) as client:
            made = await subscribe(client, admin, hook.url, patient_ids=[patient])
            response = await put(client, writer, lines)
            assert response.status_code == 200, response.text
            found = await settled(client, admin, made["id"], 2)
    assert {d["event_type"] for d in found} == {"vital_signs", "lab_result"}
    assert sorted(r.json["data"]["id"] for r in hook.requests) == sorted(
        d["event_id"] for d in found
    )
