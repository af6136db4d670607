"""A 50 MB Bundle sent to POST /fhir (issue 13's malformed FHIR): refused with a 413
problem (``payload-too-large``) whether its size is declared or it comes chunked, the
declared one unread and the chunked one read no further than the body limit (1 MiB), and
nothing written: no event, no remembered import, one failed audit row."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from carelog.storage.db import Pool
from tests.e2e.fhir_import_kit import lab, of
from tests.factories import (
    audit_rows,
    bearer,
    count_events,
    make_token,
    new_patient,
    new_tenant,
    tenant_rows,
)

pytestmark = pytest.mark.e2e

TARGET = 50 * 1024 * 1024
CHUNK = 64 * 1024
LIMIT = 1024 * 1024  # the service's body limit for POST /fhir (CARELOG_MAX_BODY_BYTES)


class BigBundle:
    """A batch Bundle of lab Observations, a little over 50 MB, made as it is sent: its
    entries all the same length (zero-padded ids), so that its size is known before it is
    made, and only a chunk of it is ever held. ``sent`` counts what the app read."""

    HEAD = b'{"resourceType":"Bundle","type":"batch","entry":['
    TAIL = b"]}"

    def __init__(self, patient: str) -> None:
        self.patient = patient
        self.sent = 0
        self.entries = (TARGET - len(self.HEAD) - len(self.TAIL)) // (len(self._entry(0)) + 1) + 1
        self.size = len(self.HEAD) + self.entries * (len(self._entry(0)) + 1) - 1 + len(self.TAIL)

    def _entry(self, n: int) -> bytes:
        resource = lab(f"big-{n:08d}", of(self.patient), 100)
        request = {"method": "PUT", "url": f"Observation/big-{n:08d}"}
        return orjson.dumps({"resource": resource, "request": request})

    async def chunks(self) -> AsyncIterator[bytes]:
        chunk = bytearray(self.HEAD)
        for n in range(self.entries):
            if n:
                chunk += b","
            chunk += self._entry(n)
            if len(chunk) >= CHUNK:
                self.sent += len(chunk)
                yield bytes(chunk)
                chunk.clear()
        chunk += self.TAIL
        self.sent += len(chunk)
        yield bytes(chunk)


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "chunked"])
async def test_a_50_mb_bundle_is_413_and_nothing_is_written(
    client: httpx.AsyncClient, pool: Pool, declared: bool
) -> None:
    tenant, patient = new_tenant(), new_patient()
    writer = bearer(await make_token(pool, tenant))
    body = BigBundle(patient)
    assert body.size > TARGET
    headers = {**writer, "Content-Type": "application/fhir+json", "X-Request-ID": "big-bundle"}
    if declared:
        headers["Content-Length"] = str(body.size)
    response = await client.post("/fhir", content=body.chunks(), headers=headers)

    assert response.status_code == 413, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["code"]) == (413, "payload-too-large")
    assert response.headers["connection"] == "close"  # the rest of the body is on it
    # Declared: not read at all; chunked: read up to the limit, the rest not.
    assert body.sent <= (CHUNK if declared else LIMIT + 2 * CHUNK)
    assert declared or body.sent > LIMIT

    assert await count_events(pool, tenant) == 0
    imported = "SELECT * FROM fhir_imports WHERE tenant_id = %s"
    assert await tenant_rows(pool, tenant, imported) == []
    rows = [r for r in await audit_rows(pool, tenant) if r["request_id"] == "big-bundle"]
    assert [(r["action"], r["outcome"], r["status"], r["event_ids"]) for r in rows] == [
        ("create", "failed", 413, [])
    ]
