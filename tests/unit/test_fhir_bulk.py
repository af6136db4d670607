"""The pure parts of FHIR Bulk Data (issue 13): the kick-off's parameters, a patient's
export with _type and _since, the manifest, and NDJSON lines split from a stream (a line
past the limit refused as too long, the next one read)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from carelog.domain.fhir import NdjsonReader, Rejected
from carelog.domain.fhir.export import ExportRequest, manifest, patient_export, read_kickoff
from carelog.services.fhir.ndjson import _Lines, read_lines
from tests.factories import fhir_event

pytestmark = pytest.mark.unit


def test_the_kick_off_needs_respond_async_and_known_types() -> None:
    assert read_kickoff(prefer="respond-async", output_format=None, since=None, types=None) == (
        ExportRequest(None, None)
    )
    read = read_kickoff(
        prefer="wait=10, respond-async",
        output_format="application/fhir+ndjson",
        since="2026-01-05T08:00:00Z",
        types="Patient, Observation",
    )
    assert read == ExportRequest(
        frozenset({"Patient", "Observation"}), datetime(2026, 1, 5, 8, tzinfo=UTC)
    )
    refused = read_kickoff(prefer=None, output_format="text/csv", since="2026-01-05", types="X")
    assert isinstance(refused, list)
    assert [i.location for i in refused] == ["Prefer", "_outputFormat", "_since", "_type"]


def test_a_patients_export_by_type_and_since() -> None:
    lab = fhir_event(1, "lab_result", {"loinc": "2345-7", "value": 98, "unit": "mg/dL"})
    resources = patient_export(lab.patient_id, [lab], types=None, since=None)
    assert [r["resourceType"] for r in resources] == ["Patient", "Observation"]
    assert patient_export(lab.patient_id, [lab], types=frozenset({"Condition"}), since=None) == []
    later = lab.created_at + timedelta(seconds=1)
    assert patient_export(lab.patient_id, [lab], types=None, since=later) == []
    earlier = lab.created_at - timedelta(seconds=1)
    assert len(patient_export(lab.patient_id, [lab], types=None, since=earlier)) == 2


def test_the_manifest() -> None:
    when = datetime(2026, 12, 3, 8, 30, tzinfo=UTC)
    found = manifest(
        transaction_time=when,
        request="http://x/fhir/$export",
        files=[("Observation", 1, 3)],
        url_of={("Observation", 1): "http://x/f/1"},
    )
    assert found == {
        "transactionTime": "2026-12-03T08:30:00Z",
        "request": "http://x/fhir/$export",
        "requiresAccessToken": True,
        "output": [{"type": "Observation", "url": "http://x/f/1", "count": 3}],
        "error": [],
    }


def test_lines_split_across_chunks_and_a_line_too_long() -> None:
    lines = _Lines(max_bytes=10_000, max_line_bytes=20)
    got = lines.feed(b'{"a": 1}\n{"b"') + lines.feed(b": 2}\n" + b"x" * 500) + lines.feed(b"\n{}")
    got += lines.rest()
    assert got[:2] == [b'{"a": 1}', b'{"b": 2}']
    assert len(got[2]) == 21  # kept to one byte past the limit, no more
    assert got[3] == b"{}"
    item = NdjsonReader(validate=False, max_line_bytes=20).feed(got[2])
    assert item is not None
    assert isinstance(item.read, Rejected)
    assert item.read.issues[0].code == "too-long"
    assert lines.feed(b"y" * 10_000) == []
    assert lines.over
    # Numbered from where the batch starts, blank lines counted.
    assert [i.where for i in read_lines(7, [b"{}", b"", b"{}"], False)] == ["line 7", "line 9"]
