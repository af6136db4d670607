"""GET /patient-events/stream over a real loopback server: live delivery, filters, tenancy,
patient limits and labels, resuming with Last-Event-ID (across a restart too), out-of-order
commits, a lost NOTIFY, revocation, the per-principal bound, validation and the audit row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from carelog.domain.principals import ApiKeyCreate, PrincipalKind
from carelog.services.auth.keys import issue_key, revoke_key
from carelog.settings import Settings
from carelog.storage.db import Pool, connection
from tests.e2e.feed_kit import Served, open_stream, served
from tests.factories import (
    audit_rows,
    bearer,
    make_key,
    make_token,
    new_patient,
    new_tenant,
    record,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def feed(settings: Settings) -> AsyncIterator[Served]:
    async with served(settings) as running:
        yield running


@pytest.fixture
async def http(feed: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=feed.url, timeout=10) as c:
        yield c


async def _note(http: httpx.AsyncClient, writer: dict[str, str], patient: str, **extra: Any) -> int:
    return await record(http, writer, patient, "note", {"text": "synthetic"}, **extra)


def _ids(messages: list[Any]) -> list[int]:
    return [int(m.json()["id"]) for m in messages]


async def test_live_events_filtered_by_patient_and_type_and_tenant(
    feed: Served, http: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, other = new_tenant(), new_tenant()
    p1, p2 = new_patient(), new_patient()
    key = bearer(await make_token(pool, tenant))
    stranger = bearer(await make_token(pool, other))
    query = f"?patient_id={p1}&event_type=note&event_type=medication"
    async with open_stream(feed.url, key, query) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        wanted = await _note(http, key, p1)
        await record(http, key, p1, "intake_summary", {"text": "x"})  # other type
        await _note(http, key, p2)  # other patient
        await _note(http, stranger, p1)  # other tenant, same patient id
        also = await _note(http, key, p1)
        got = await stream.events(2)
        assert _ids(got) == [wanted, also]
        assert all(m.id and m.id.count("-") == 1 for m in got)
        assert got[0].json()["patient_id"] == p1
        assert await stream.quiet(0.8) == []
    async with open_stream(feed.url, stranger) as theirs:
        await _note(http, key, p1)
        assert await theirs.quiet(0.8) == []


async def test_heartbeats_while_idle(feed: Served, pool: Pool) -> None:
    key = bearer(await make_token(pool, new_tenant()))
    async with open_stream(feed.url, key) as stream:
        message = await stream.next(within=3)
        assert message is not None
        assert message.comment == "heartbeat"


async def test_patient_limited_key_and_labels(
    feed: Served, http: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, mine, theirs = new_tenant(), new_patient(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    limited = await make_key(pool, tenant, "events:read", patients=frozenset({mine}))
    reader = bearer(await make_token(pool, tenant, "events:read"))
    eth_reader = bearer(await make_token(pool, tenant, "events:read", "sensitive:ETH"))
    async with (
        open_stream(feed.url, limited) as only_mine,
        open_stream(feed.url, reader) as plain,
        open_stream(feed.url, eth_reader) as eth,
    ):
        other = await _note(http, writer, theirs)
        labelled = await _note(http, writer, mine, labels=["ETH"])
        unlabelled = await _note(http, writer, mine)
        assert _ids(await only_mine.events(1)) == [unlabelled]  # neither theirs nor ETH
        assert _ids(await plain.events(2)) == [other, unlabelled]
        assert _ids(await eth.events(3)) == [other, labelled, unlabelled]
        assert await only_mine.quiet(0.5) == []
    async with open_stream(feed.url, limited, f"?patient_id={theirs}") as refused:
        assert refused.status == 404


async def test_reconnect_with_last_event_id_gets_every_missed_event_once(
    feed: Served, http: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    key = bearer(await make_token(pool, tenant))
    async with open_stream(feed.url, key, f"?patient_id={patient}") as stream:
        first = await _note(http, key, patient)
        [seen] = await stream.events(1)
    assert _ids([seen]) == [first]
    missed = [await _note(http, key, patient) for _ in range(5)]
    async with open_stream(feed.url, key, f"?patient_id={patient}", seen.id) as again:
        got = await again.events(5)
        assert _ids(got) == missed
        live = await _note(http, key, patient)
        assert _ids(await again.events(1)) == [live]
        assert await again.quiet(0.6) == []
    # Resuming from the middle gives the rest, once.
    async with open_stream(feed.url, key, f"?patient_id={patient}", got[2].id) as middle:
        assert _ids(await middle.events(3)) == [*missed[3:], live]
        assert await middle.quiet(0.6) == []


async def test_resume_across_a_restart(settings: Settings, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    key = bearer(await make_token(pool, tenant))
    async with served(settings) as before, httpx.AsyncClient(base_url=before.url) as http:
        async with open_stream(before.url, key) as stream:
            first = await _note(http, key, patient)
            [seen] = await stream.events(1)
        missed = [await _note(http, key, patient) for _ in range(3)]
    assert _ids([seen]) == [first]
    async with (
        served(settings) as after,
        httpx.AsyncClient(base_url=after.url) as http,
        open_stream(after.url, key, last_event_id=seen.id) as again,
    ):
        assert _ids(await again.events(3)) == missed
        live = await _note(http, key, patient)
        assert _ids(await again.events(1)) == [live]
        assert await again.quiet(0.6) == []


async def test_a_lost_notify_is_caught_up_by_the_interval(
    feed: Served, http: httpx.AsyncClient, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, patient = new_tenant(), new_patient()
    key = bearer(await make_token(pool, tenant))
    heard: list[str] = []
    monkeypatch.setattr(feed.app.state.runtime.feed, "wake", heard.append)  # deaf
    async with open_stream(feed.url, key) as stream:
        event_id = await _note(http, key, patient)
        assert _ids(await stream.events(1, within=3)) == [event_id]
    assert tenant in heard  # the NOTIFY came, and was dropped


async def _insert(conn: Any, tenant: str, patient: str) -> int:
    cur = await conn.execute(
        "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
        " recorded_by) VALUES (%s, %s, 'note', '{}', now(), 'key:test') RETURNING id",
        (tenant, patient),
    )
    row = await cur.fetchone()
    return int(row[0])


async def test_out_of_order_commits_are_delivered_once_each(feed: Served, pool: Pool) -> None:
    # (two patients: one patient's writers queue on its head row, and would not overlap)
    tenant, patient, other = new_tenant(), new_patient(), new_patient()
    key = bearer(await make_token(pool, tenant))
    async with (
        open_stream(feed.url, key) as stream,
        connection(pool, tenant) as older,
        connection(pool, tenant) as later,
    ):
        await older.execute("BEGIN")
        early = await _insert(older, tenant, patient)
        await later.execute("BEGIN")
        late = await _insert(later, tenant, other)
        assert late > early
        await later.execute("COMMIT")  # the later id commits first
        # Not handed out yet: the older writer may still commit an event before it.
        assert await stream.quiet(0.8) == []
        await older.execute("COMMIT")
        got = await stream.events(2)
        assert sorted(_ids(got)) == [early, late]
        assert await stream.quiet(0.6) == []
    async with open_stream(feed.url, key, last_event_id=got[0].id) as again:
        assert _ids(await again.events(1)) == _ids(got[1:])
        assert await again.quiet(0.5) == []


async def test_a_revoked_key_ends_its_stream(feed: Served, pool: Pool) -> None:
    tenant = new_tenant()
    issued = await issue_key(
        pool, ApiKeyCreate(tenant_id=tenant, scopes=frozenset({"events:read"}), name="feed")
    )
    async with open_stream(feed.url, bearer(issued.token)) as stream:
        await revoke_key(pool, issued.key.key_id, tenant_id=tenant)
        ending: Any = None
        for _ in range(10):
            ending = await stream.next(within=3)
            if ending is None or ending.comment is None:
                break
        assert ending is not None
        assert ending.event == "revoked"
        assert ending.json()["code"] == "revoked"
        assert await stream.next(within=3) is None  # and the stream ends


async def test_streams_per_principal_are_bounded(feed: Served, pool: Pool) -> None:
    key = await make_key(pool, new_tenant(), "events:read", kind=PrincipalKind.AGENT)
    async with (
        open_stream(feed.url, key),
        open_stream(feed.url, key),
        open_stream(feed.url, key) as third,
    ):
        assert third.status == 429
        assert int(third.headers["retry-after"]) >= 1
        assert '"code":"rate-limited"' in third.body.replace(" ", "")
    for _ in range(50):  # the server notices the closed streams
        async with open_stream(feed.url, key) as again:
            if again.status == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("a stream could not open after the others closed")


async def test_workflow_transitions_are_on_the_stream(
    feed: Served, http: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    agent = await make_key(
        pool, tenant, "workflows:read", "workflows:write", "events:read", "events:write",
        kind=PrincipalKind.AGENT,
    )  # fmt: skip
    async with open_stream(feed.url, agent, "?event_type=workflow_transition") as stream:
        await _note(http, agent, patient)
        body = {"patient_id": patient, "severity": "urgent", "reason": "chest pain"}
        opened = await http.post("/escalations", json=body, headers=agent)
        assert opened.status_code in (200, 201), opened.text
        [transition] = await stream.events(1)
        assert transition.json()["event_type"] == "workflow_transition"
        assert transition.json()["patient_id"] == patient


@pytest.mark.parametrize(
    ("query", "headers", "field"),
    [
        ("", {"Last-Event-ID": "42"}, "Last-Event-ID"),
        ("", {"Last-Event-ID": "x-1"}, "Last-Event-ID"),
        ("?patient_id=%20bad", {}, "patient_id"),
        ("?event_type=9-not-a-type", {}, "event_type"),
        ("?" + "&".join(f"patient_id=P-{n}" for n in range(101)), {}, "patient_id"),
        ("?patient=P-1", {}, "query"),
    ],
)
async def test_bad_parameters_are_422(
    client: httpx.AsyncClient, pool: Pool, query: str, headers: dict[str, str], field: str
) -> None:
    key = bearer(await make_token(pool, new_tenant(), "events:read"))
    response = await client.get(f"/patient-events/stream{query}", headers={**key, **headers})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation-failed"
    assert [e["field"] for e in problem["errors"] if e["field"].split(".")[0] == field]


async def test_a_stream_start_is_audited(feed: Served, pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    key = bearer(await make_token(pool, tenant, "events:read"))
    async with open_stream(feed.url, key, f"?patient_id={patient}"):
        pass
    rows = [r for r in await audit_rows(pool, tenant) if r["route"] == "/patient-events/stream"]
    assert [(r["action"], r["outcome"], r["patient_id"]) for r in rows] == [
        ("search", "success", patient)
    ]


async def test_anonymous_and_unscoped_are_refused(client: httpx.AsyncClient, pool: Pool) -> None:
    assert (await client.get("/patient-events/stream")).status_code == 401
    writer = bearer(await make_token(pool, new_tenant(), "events:write"))
    assert (await client.get("/patient-events/stream", headers=writer)).status_code == 403


async def test_a_stream_behind_the_shared_tail_catches_up_from_the_log(
    feed: Served, http: httpx.AsyncClient, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, patient = new_tenant(), new_patient()
    key = await make_key(pool, tenant, "events:read", "events:write", kind=PrincipalKind.AGENT)
    # A tail that keeps only 2 events: a stream more than 2 behind reads the log itself.
    monkeypatch.setattr(feed.app.state.runtime.feed, "tail_capacity", 2)
    async with open_stream(feed.url, key) as live:
        first = await _note(http, key, patient)
        [seen] = await live.events(1)
        rest = [await _note(http, key, patient) for _ in range(6)]
        assert _ids(await live.events(6)) == rest  # from the tail, whatever it keeps
        async with open_stream(feed.url, key, last_event_id=seen.id) as behind:
            assert _ids(await behind.events(6)) == rest  # from the log, then the tail
            more = [await _note(http, key, patient) for _ in range(2)]
            assert _ids(await behind.events(2)) == more
            assert _ids(await live.events(2)) == more
            assert await behind.quiet(0.5) == []
            assert await live.quiet(0.1) == []
    assert _ids([seen]) == [first]
