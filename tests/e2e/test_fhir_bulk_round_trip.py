"""The Bulk Data round trip over the API (issue 13): a generated population, written by
``carelog generate --format fhir`` (every version of every resource, corrections and
retractions included), imported through POST /fhir/$import and exported through
GET /fhir/$export, says the same clinical content, resource by resource and field by field:
codes, values, units, dates, statuses."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from carelog.cli.generate import to_events
from carelog.domain.fhir import current, to_resources
from carelog.storage.db import Pool
from carelog.synthetic.population import cohort
from tests.e2e.fhir_import_kit import clinical_content, summary_of
from tests.e2e.test_fhir_export import download, finished, kick_off
from tests.factories import bearer, make_token, new_tenant

pytestmark = pytest.mark.e2e

PATIENTS, SEED = 12, 5


def _expected() -> list[dict[str, Any]]:
    """The current resources of the generated population, as the domain maps them."""
    found: list[dict[str, Any]] = []
    next_id = 1
    for patient in cohort(PATIENTS, SEED):
        events = to_events(patient.timed_records(), next_id)
        next_id += len(events)
        found.extend(r for version in current(events) for r in to_resources(version))
    return found


@pytest.fixture
def population(tmp_path: Path) -> bytes:
    """The population's NDJSON, as the command writes it."""
    ndjson = tmp_path / "population.ndjson"
    subprocess.run(
        [sys.executable, "-m", "carelog", "generate", "--patients", str(PATIENTS),
         "--seed", str(SEED), "--format", "fhir", "--output", str(ndjson)],
        check=True, capture_output=True,
    )  # fmt: skip
    return ndjson.read_bytes()


@pytest.mark.usefixtures("worker")
async def test_a_generated_population_imported_and_exported_is_the_same(
    client: httpx.AsyncClient, pool: Pool, population: bytes
) -> None:
    body = population
    headers = bearer(await make_token(pool, new_tenant(), "events:read", "events:write", "admin"))
    imported = await client.post(
        "/fhir/$import",
        content=body,
        headers={**headers, "Content-Type": "application/fhir+ndjson"},
    )
    assert imported.status_code == 200, imported.text[:1000]
    summary = summary_of(imported)
    assert summary.endswith(", 0 failed"), [
        i for i in imported.json()["issue"] if i["severity"] == "error"
    ][:5]
    assert " corrected" in summary  # the corrections and retractions came in as such

    files = await download(
        client, headers, await finished(client, headers, await kick_off(client, headers))
    )
    exported = [r for resources in files.values() for r in resources]
    assert len(files["Patient"]) == PATIENTS
    expected = _expected()
    assert Counter(r["resourceType"] for r in exported if r["resourceType"] != "Patient") == (
        Counter(r["resourceType"] for r in expected)
    )
    got, want = clinical_content(exported), clinical_content(expected)
    for left, right in zip(got, want, strict=True):
        assert left == right  # field by field: pytest shows the fields that differ
    # Imported again: every line unchanged, nothing new.
    again = await client.post(
        "/fhir/$import",
        content=body,
        headers={**headers, "Content-Type": "application/fhir+ndjson"},
    )
    lines = sum(1 for line in body.splitlines() if line.strip())
    assert summary_of(again) == f"0 created, {lines} unchanged, 0 failed"
