"""POST /fhir/$import: FHIR R4 NDJSON streamed in, line by line (issue 13): created, then
unchanged on a re-import; a broken line in the middle fails alone; another tenant's patient
identifiers and a limited key's other patients refused; bodies past the usual 1 MiB limit
read as they arrive, and over the import's own limit refused with 413."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from carelog.api.app import create_app
from carelog.domain.principals import ApiKeyCreate
from carelog.services.auth.keys import issue_key
from carelog.settings import Settings
from carelog.storage.db import Pool
from tests.e2e.fhir_import_kit import (
    MRN,
    NDJSON,
    bundle,
    heart_rate,
    issues,
    lab,
    ndjson,
    of,
    post,
    put,
    said,
    statuses,
    summary_of,
)
from tests.factories import (
    audit_rows,
    bearer,
    client_address,
    count_events,
    make_token,
    new_patient,
    new_tenant,
)

pytestmark = pytest.mark.e2e


async def test_created_then_unchanged_with_a_line_each(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    body = ndjson(
        {"resourceType": "Patient", "id": patient},
        lab("n1", of(patient), 100, version="1"),
        lab("n2", of(patient), 90),
    )
    response = await put(client, writer, body, **{"X-Request-ID": "ndjson-import-audit"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    assert said(response) == [
        f"line 1: created Patient/{patient}",
        "line 2: created Observation/n1/_history/1",
        "line 3: created Observation/n2/_history/1",
    ]
    assert summary_of(response) == "3 created, 0 unchanged, 0 failed"
    assert await count_events(pool, tenant) == 2
    rows = [r for r in await audit_rows(pool, tenant) if r["request_id"] == "ndjson-import-audit"]
    # The batch's created events are written together (COPY), with one audit row naming
    # them all (and their patient, the batch being one patient's).
    assert [(r["action"], r["route"], r["patient_id"]) for r in rows] == [
        ("create", "/fhir/$import", patient)
    ]
    assert len(rows[0]["event_ids"]) == 2

    again = await put(client, writer, body)
    assert summary_of(again) == "0 created, 3 unchanged, 0 failed"
    assert said(again)[1] == "line 2: unchanged Observation/n1/_history/1"
    assert await count_events(pool, tenant) == 2
    # A line imported before through POST /fhir is the same resource.
    assert statuses(await post(client, writer, bundle("batch", lab("n2", of(patient), 90)))) == [
        "200 OK"
    ]
    changed = await put(client, writer, ndjson(lab("n1", of(patient), 120, version="2")))
    assert said(changed) == ["line 1: corrected Observation/n1/_history/2"]
    # Its first version again (a history imported again): older than what is stored.
    older = await put(client, writer, ndjson(lab("n1", of(patient), 100, version="1")))
    assert said(older) == ["line 1: unchanged Observation/n1/_history/2"]
    assert await count_events(pool, tenant) == 3


async def test_a_broken_line_in_the_middle_fails_alone(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    missing_status = lab("b3", of(patient), 3)
    del missing_status["status"]
    body = (
        ndjson(lab("b1", of(patient), 1))
        + b'{"resourceType": "Observation", "id": "b2", \n'  # cut short
        + b"\n"  # a blank line: skipped, but counted
        + ndjson(missing_status, lab("b5", of(patient), 5), {"resourceType": "Nope"})
        + ndjson(lab("b7", {"reference": "urn:uuid:9"}, 7), lab("b8", of(patient), 8))
    )
    response = await put(client, writer, body)
    assert response.status_code == 200, response.text
    found = issues(response)
    errors = [
        (i["code"], i["expression"][0], i["diagnostics"][:8])
        for i in found
        if i["severity"] == "error"
    ]
    assert errors == [
        ("invalid", "line 2", "not JSON"),  # (the expression names the line itself)
        ("required", "Observation.status", "line 4: "),
        ("not-supported", "Nope.resourceType", "line 6: "),
        ("not-found", "Observation.subject", "line 7: "),
    ]
    assert said(response)[-3:] == [
        "line 1: created Observation/b1/_history/1",
        "line 5: created Observation/b5/_history/1",
        "line 8: created Observation/b8/_history/1",
    ]
    assert summary_of(response) == "3 created, 0 unchanged, 4 failed"
    assert await count_events(pool, tenant) == 3


async def test_another_tenants_patients_and_a_limited_keys_others_are_refused(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, other, patient, stranger = new_tenant(), new_tenant(), new_patient(), new_patient()
    mrn = {"system": MRN, "value": f"MRN-{patient}"}
    owner = bearer(await make_token(pool, other))
    registered = await put(
        client, owner, ndjson({"resourceType": "Patient", "id": patient, "identifier": [mrn]})
    )
    assert summary_of(registered) == "1 created, 0 unchanged, 0 failed"
    # In another tenant the identifier names no patient: the line is refused, not stored.
    writer = bearer(await make_token(pool, tenant))
    by_identifier = lab("t1", {"identifier": mrn}, 1)
    response = await put(client, writer, ndjson(by_identifier))
    [error] = [i for i in issues(response) if i["severity"] == "error"]
    assert (error["code"], error["expression"]) == ("not-found", ["Observation.subject"])
    assert await count_events(pool, tenant) == 0
    assert summary_of(await put(client, owner, ndjson(by_identifier))).startswith("1 created")

    limited = await issue_key(
        pool,
        ApiKeyCreate(
            tenant_id=tenant, scopes=frozenset({"patient/*.cruds"}), patients=frozenset({patient})
        ),
    )
    mixed = ndjson(lab("t2", of(patient), 2), lab("t3", of(stranger), 3))
    response = await put(client, bearer(limited.token), mixed)
    [error] = [i for i in issues(response) if i["severity"] == "error"]
    assert (error["code"], error["diagnostics"][:7]) == ("forbidden", "line 2:")
    assert await count_events(pool, tenant) == 1
    reader = bearer(await make_token(pool, tenant, "events:read"))
    assert (await put(client, reader, mixed)).status_code == 403


async def test_the_media_type_and_the_scope(client: httpx.AsyncClient, pool: Pool) -> None:
    writer = bearer(await make_token(pool, new_tenant()))
    body = ndjson(lab("m1", of(new_patient()), 1))
    response = await client.post(
        "/fhir/$import", content=body, headers={**writer, "Content-Type": "application/json"}
    )
    assert response.status_code == 415
    assert (await client.post("/fhir/$import", content=body, headers=NDJSON)).status_code == 401
    assert summary_of(await put(client, writer, b"")) == "0 created, 0 unchanged, 0 failed"


@pytest.fixture
async def small_limit_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose import reads at most 600 KiB (the usual body limit stays 1 MiB)."""
    app: FastAPI = create_app(settings.model_copy(update={"fhir_import_max_bytes": 600 * 1024}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client_address())
        async with httpx.AsyncClient(transport=transport, base_url="http://carelog.test") as c:
            yield c


async def _chunks(body: bytes, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    for at in range(0, len(body), size):
        yield body[at : at + size]


async def test_a_body_past_the_usual_limit_is_streamed_in(
    client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    # 2,500 lines, about 1.5 MiB: over the 1 MiB body limit, in three batches, sent chunked.
    body = ndjson(*(heart_rate(f"s{n}", patient, 40 + n % 100) for n in range(2_500)))
    assert len(body) > 1024 * 1024
    response = await put(client, writer, _chunks(body))
    assert response.status_code == 200, response.text[:500]
    assert summary_of(response) == "2500 created, 0 unchanged, 0 failed"
    assert await count_events(pool, tenant) == 2_500


async def test_over_the_import_limit_is_413(
    small_limit_client: httpx.AsyncClient, pool: Pool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    body = ndjson(*(heart_rate(f"o{n}", patient, 40 + n % 100) for n in range(1_500)))
    declared = await put(small_limit_client, writer, body)
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    assert await count_events(pool, tenant) == 0
    # Streamed with no declared length: read up to the limit, the batches before it stored.
    streamed = await put(small_limit_client, writer, _chunks(body))
    assert streamed.status_code == 413, streamed.text[:300]
    last = issues(streamed)[-1]
    assert (last["severity"], last["code"]) == ("error", "too-long")
    stored = await count_events(pool, tenant)
    assert 0 < stored < 1_500
    assert stored % 1_000 == 0  # whole batches only
    assert f"lines 1 to {stored} are stored" in last["diagnostics"]
