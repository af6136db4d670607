"""Webhook subscriptions (issue 12): SSRF refusals (422 webhook-target-refused), the secret
shown once, the admin scope, the audit row of each route, and the outbox trigger holding a
subscription to what its creator could read."""

from __future__ import annotations

import httpx
import pytest

from carelog.storage.db import Connection, Pool
from tests.factories import audit_rows, make_key, new_patient, new_tenant, record

pytestmark = pytest.mark.e2e


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
