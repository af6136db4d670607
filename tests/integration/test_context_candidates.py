"""The context's candidates, chosen in SQL, give the same context as the pure builder over the
patient's whole history; the stored fact key follows the builder's rule; and the choice costs
what is shown, not the patient's history."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from carelog.domain.context import build_context, fact_key
from carelog.domain.events import PatientEvent
from carelog.storage import events as event_store
from carelog.storage.db import Pool, connection
from carelog.storage.queries import load
from tests.factories import new_patient, new_tenant

Connection = AsyncConnection[Any]

INSERT = b"""
INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,
                            recorded_at, recorded_by, status, supersedes)
VALUES (%(tenant)s, %(patient)s, %(event_type)s, %(payload)s, %(occurred_at)s,
        %(recorded_at)s, 'test', %(status)s, %(supersedes)s)
RETURNING id
"""
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LAB_NAMES = [{"loinc": "4548-4", "test": "HbA1c"}, {"test": "HbA1c"}, {"test": "HBA1C"}]
LABS = [*LAB_NAMES, {"loinc": "2823-3"}, {"test": "ldl"}, {"test": "Potassium"}]


def _payload(rng: random.Random, event_type: str) -> dict[str, Any]:
    value = rng.randint(1, 20)
    if event_type == "lab_result":
        return {**rng.choice(LABS), "value": value, "unit": "%"}
    if event_type == "condition":
        coded = rng.choice([{"icd10": "E11.9"}, {"name": "Asthma"}, {"snomed": "38341003"}, {}])
        status = rng.choice(["active", "active", "resolved"])
        return {**coded, "clinical_status": status}
    if event_type == "medication":
        drug = rng.choice([{"rxnorm": "860975", "name": "metformin"}, {"name": "Lisinopril"}])
        return {**drug, "status": rng.choice(["active", "stopped"])}
    if event_type == "allergy":
        return {"substance": rng.choice(["penicillin", "Latex", "peanut"])}
    if event_type == "vital_signs":
        return {"heart_rate": {"value": 60 + value, "unit": "/min"}}
    return {"text": f"synthetic note {value}"}


async def _insert(dba: Connection, **row: Any) -> int:
    row = {"status": "final", "supersedes": None, **row, "payload": json.dumps(row["payload"])}
    cur = await dba.execute(INSERT, row)
    found = await cur.fetchone()
    assert found is not None
    return int(found[0])


async def _random_history(dba: Connection, tenant: str, patient: str, seed: int) -> None:
    """Some 400 events of every kind (occurred_at ties included), then corrections (some of
    corrections, some changing what a result is about) and retractions, recorded later."""
    rng = random.Random(seed)
    kinds = ["lab_result"] * 5 + ["condition", "medication", "allergy", "vital_signs"] * 2
    kinds += ["triage_note", "document", "encounter", "custom_kind"]
    standing: dict[int, str] = {}

    async def add(kind: str, recorded_at: datetime, **extra: Any) -> int:
        return await _insert(
            dba,
            tenant=tenant,
            patient=patient,
            event_type=kind,
            payload=_payload(rng, kind),
            occurred_at=T0 + timedelta(hours=rng.randint(0, 2000)),
            recorded_at=recorded_at,
            **extra,
        )

    for i in range(400):
        kind = rng.choice(kinds)
        standing[await add(kind, T0 + timedelta(days=100, minutes=i))] = kind
    for i in range(80):
        target = rng.choice(sorted(standing))
        kind = standing.pop(target)
        retract = rng.random() < 0.25
        successor = await add(
            kind,
            T0 + timedelta(days=101, minutes=i),
            status="entered-in-error" if retract else "amended",
            supersedes=target,
        )
        if not retract:
            standing[successor] = kind


async def _every_version(dba: Connection, tenant: str, patient: str) -> list[PatientEvent]:
    cur = await dba.execute(
        "SELECT carelog_event_json(e) FROM patient_events AS e"
        " WHERE tenant_id = %s AND patient_id = %s",
        (tenant, patient),
    )
    return [PatientEvent.model_validate_json(doc) for (doc,) in await cur.fetchall()]


async def test_candidates_give_the_context_of_the_whole_history(
    dba: Connection, pool: Pool
) -> None:
    tenant = new_tenant()
    patients = [new_patient() for _ in range(3)]
    for seed, patient in enumerate(patients):
        await _random_history(dba, tenant, patient, seed)
    moments = [T0 + timedelta(days=100, minutes=m) for m in (0, 150, 399)]
    moments += [T0 + timedelta(days=101, minutes=m) for m in (10, 40)]
    moments.append(datetime.now(UTC))
    options: list[dict[str, Any]] = [
        {},
        {"since": T0 + timedelta(hours=1000)},
        {"types": frozenset({"lab_result", "condition"})},
    ]
    for patient in patients:
        history = await _every_version(dba, tenant, patient)
        for as_of in moments:
            async with connection(pool, tenant) as conn:
                found = await event_store.context_candidates(
                    conn, tenant_id=tenant, patient_id=patient, as_of=as_of
                )
            candidates = found.events
            assert found.version == 480  # every event and successor recorded for the patient
            assert len(candidates) < len(history)
            for extra in options:
                expected = build_context(patient, history, as_of=as_of, **extra)
                got = build_context(patient, candidates, as_of=as_of, **extra)
                assert got == expected, (patient, as_of, extra)
                if as_of > moments[0]:  # (at the first moment one event is recorded)
                    assert any(section.lines for section in got.sections)


async def test_the_stored_fact_key_follows_the_builders_rule(dba: Connection) -> None:
    tenant, patient = new_tenant(), new_patient()
    payloads: list[tuple[str, dict[str, Any]]] = [
        ("lab_result", {"loinc": "4548-4", "test": "HbA1c"}),
        ("lab_result", {"loinc": "", "test": "HbA1c"}),
        ("lab_result", {"loinc": None, "test": "LDL Cholesterol"}),
        ("lab_result", {"loinc": 4548, "test": "x"}),
        ("lab_result", {"test": 0}),
        ("lab_result", {"test": True}),
        ("lab_result", {"test": {"nested": [1, "a"]}}),
        ("lab_result", {"value": 3}),
        ("condition", {"snomed": "38341003", "name": "Hypertension"}),
        ("condition", {"icd10": "E11.9", "snomed": "44054006"}),
        ("medication", {"rxnorm": "860975", "name": "metformin"}),
        ("medication", {"name": "Ärztliche Salbe"}),
        ("allergy", {"substance": "Penicillin"}),
        ("allergy", {}),
    ]
    for event_type, payload in payloads:
        await _insert(
            dba,
            tenant=tenant,
            patient=patient,
            event_type=event_type,
            payload=payload,
            occurred_at=T0,
            recorded_at=T0,
        )
    await _insert(
        dba,
        tenant=tenant,
        patient=patient,
        event_type="triage_note",
        payload={"name": "not a fact"},
        occurred_at=T0,
        recorded_at=T0,
    )
    cur = await dba.execute(
        "SELECT carelog_event_json(e), fact_key FROM patient_events AS e"
        " WHERE tenant_id = %s AND patient_id = %s ORDER BY id",
        (tenant, patient),
    )
    rows = [(PatientEvent.model_validate_json(doc), key) for doc, key in await cur.fetchall()]
    assert [key for event, key in rows if event.event_type != "triage_note"] == [
        fact_key(event) for event, _ in rows if event.event_type != "triage_note"
    ]
    assert rows[0][1] == "4548-4"
    assert rows[1][1] == "hba1c"
    assert rows[-2][1] == f"#{rows[-2][0].id}"
    assert rows[-1][1] is None  # only the coded kinds have a fact key


def _outline(node: dict[str, Any], depth: int = 0) -> str:
    """One line per plan node: what a failure message needs to show the plan."""
    line = " ".join(
        str(x)
        for x in (node["Node Type"], node.get("Index Name", ""), node.get("Relation Name", ""))
        if x
    )
    line = f"{'  ' * depth}{line} rows={node['Actual Rows']} loops={node['Actual Loops']}"
    return "\n".join([line, *(_outline(c, depth + 1) for c in node.get("Plans", []))])


def _scans(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node] if "Relation Name" in node else []  # scans of tables, not of CTEs
    for child in node.get("Plans", []):
        found += _scans(child)
    return found


async def test_choosing_the_candidates_reads_what_is_shown_not_the_history(
    dba: Connection,
) -> None:
    """A patient with 5,000 events over 40 facts, the newest of every fact corrected, in a
    tenant with 5,000 more corrections: every scan of the plan, as carelog_app under row-level
    security, reads a few rows per fact (no pass over the 5,000), and no Seq Scan."""
    tenant, patient, other = new_tenant(), new_patient(), new_patient()
    for who in (patient, other):
        await dba.execute(
            "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload,"
            " occurred_at, recorded_by) SELECT %(tenant)s, %(patient)s, k.kind, CASE k.kind"
            "  WHEN 'lab_result' THEN jsonb_build_object('test', 'test ' || (g / 5 %% 30))"
            "  WHEN 'condition' THEN jsonb_build_object('icd10', 'E' || (g / 5 %% 10))"
            "  ELSE jsonb_build_object('text', 'note ' || g) END,"
            " now() - make_interval(mins => g), 'test' FROM generate_series(1, 5000) AS g,"
            " LATERAL (SELECT (ARRAY['lab_result', 'lab_result', 'condition', 'vital_signs',"
            "  'triage_note'])[1 + g %% 5] AS kind) AS k",
            {"tenant": tenant, "patient": who},
        )
    # Corrections: the newest 400 events of the patient, every event of the other one.
    await dba.execute(
        "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
        " recorded_by, status, supersedes)"
        " SELECT tenant_id, patient_id, event_type, payload, occurred_at, 'test', 'amended', id"
        " FROM patient_events WHERE tenant_id = %(tenant)s AND (patient_id = %(other)s"
        "  OR (patient_id = %(patient)s AND occurred_at > now() - interval '401 minutes'))",
        {"tenant": tenant, "patient": patient, "other": other},
    )
    await dba.execute("ANALYZE patient_events")
    await dba.execute("SET ROLE carelog_app")
    await dba.execute("SELECT set_config('carelog.tenant_id', %s, false)", (tenant,))
    found = await event_store.context_candidates(
        dba, tenant_id=tenant, patient_id=patient, as_of=datetime.now(UTC)
    )
    assert len(found.events) == 30 * 2 + 10 + 1 + 10  # labs x2, conditions, vitals, notes
    # It forced the generic plan for itself only: the pooled connection is as it was.
    cur = await dba.execute("SHOW plan_cache_mode")
    assert await cur.fetchone() == ("auto",)
    cur = await dba.execute(
        b"EXPLAIN (ANALYZE, FORMAT JSON) " + load("context_candidates"),
        {"tenant_id": tenant, "patient_id": patient, "as_of": datetime.now(UTC)},
    )
    row = await cur.fetchone()
    assert row is not None
    plan = row[0][0]["Plan"]
    scans = _scans(plan)
    assert "patient_events_facts" in {s.get("Index Name") for s in scans}
    assert not [s for s in scans if s["Node Type"] == "Seq Scan"], _outline(plan)
    for scan in scans:
        assert scan["Actual Rows"] <= 30, _outline(plan)  # per loop; never the 5,000 rows
