"""The context's candidates, chosen in SQL, give the same context as the pure builder over the
patient's whole history; the stored fact key follows the builder's rule; and the choice costs
what is shown, not the patient's history."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, sql

from carelog.domain.context import build_context, fact_key
from carelog.domain.context.sections import is_measurement
from carelog.domain.events import PatientEvent
from carelog.storage import patient_events as event_store
from carelog.storage.db import Pool, connection, set_local
from carelog.storage.queries import Queries
from tests.factories import new_patient, new_tenant

Connection = AsyncConnection[Any]
load = Queries("carelog.storage.patient_events")


async def _candidates(conn: Connection, **options: Any) -> event_store.ContextCandidates:
    """The candidates, run as the context's use case runs them: in a transaction of their
    own under the query's plan settings (services/unit.py sets them there)."""
    async with conn.transaction():
        await set_local(conn, event_store.CONTEXT_PLAN)
        sent = await event_store.context_candidates(conn, **options)
    return await sent.read()


INSERT = b"""
INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,
                            recorded_at, recorded_by, status, supersedes, labels)
VALUES (%(tenant)s, %(patient)s, %(event_type)s, %(payload)s, %(occurred_at)s,
        %(recorded_at)s, 'test', %(status)s, %(supersedes)s, %(labels)s)
RETURNING id
"""
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LAB_NAMES = [{"loinc": "4548-4", "test": "HbA1c"}, {"test": "HbA1c"}, {"test": "HBA1C"}]
LABS = [
    *LAB_NAMES,
    {"loinc": "2823-3"},
    {"test": "ldl"},
    {"test": "Potassium"},
    {"loinc": "17856-6"},  # another HbA1c code: "HbA1c" by name is then ambiguous
    {"test": "a1c"},  # the analyte table's synonym
]
UNITS = ["%", "%", "mmol/mol", None]
CONDITIONS = [
    {"icd10": "E11.9", "snomed": "44054006", "name": "Type 2 diabetes"},
    {"snomed": "44054006"},
    {"name": "type 2 diabetes"},
    {"icd10": "E11.9"},
    {"name": "Asthma"},
    {"snomed": "38341003"},
    {},
]
DRUGS = [
    {"rxnorm": "860975", "name": "metformin"},
    {"rxnorm": "861007", "name": "Metformin"},  # a second coded metformin: ambiguous names
    {"name": "METFORMIN"},
    {"name": "Lisinopril"},
    {"name": "lisinopril "},
]
SIGNS = {
    "heart_rate": {"value": 72, "unit": "/min"},
    "blood_pressure": {"systolic": 130, "diastolic": 85},
    "weight": {"value": 80, "unit": "kg"},
    "pain_score": {"value": 3},
    "comment": "not a measurement",
}


def _payload(rng: random.Random, event_type: str) -> dict[str, Any]:
    value = rng.randint(1, 20)
    if event_type == "lab_result":
        return {**rng.choice(LABS), "value": value, "unit": rng.choice(UNITS)}
    if event_type == "condition":
        status = rng.choice(["active", "active", "resolved"])
        return {**rng.choice(CONDITIONS), "clinical_status": status}
    if event_type == "medication":
        return {**rng.choice(DRUGS), "status": rng.choice(["active", "stopped"])}
    if event_type == "allergy":
        verified = rng.choice([{}, {}, {"verification_status": "refuted"}])
        return {"substance": rng.choice(["penicillin", "Latex", "peanut"]), **verified}
    if event_type == "vital_signs":
        return {k: v for k, v in SIGNS.items() if rng.random() < 0.4}
    return {"text": f"synthetic note {value}"}


async def _insert(dba: Connection, **row: Any) -> int:
    row = {
        "status": "final",
        "supersedes": None,
        "labels": [],
        **row,
        "payload": json.dumps(row["payload"]),
    }
    cur = await dba.execute(INSERT, row)
    found = await cur.fetchone()
    assert found is not None
    return int(found[0])


async def _random_history(dba: Connection, tenant: str, patient: str, seed: int) -> None:
    """Some 400 events of every kind (occurred_at ties included, about one in six labelled),
    then corrections (some of corrections, some changing what a result is about or its
    label) and retractions, recorded later."""
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
            labels=rng.choice([[]] * 4 + [["BH"], ["HIV", "BH"]]),
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
        {"until": T0 + timedelta(hours=700)},
        {"since": T0 + timedelta(hours=300), "until": T0 + timedelta(hours=1500)},
        {"types": frozenset({"lab_result", "condition"})},
        {"types": frozenset({"document"})},
        {"types": frozenset({"vital_signs", "encounter", "medication"})},
        {"visible_labels": frozenset()},
        {"visible_labels": frozenset({"BH"}), "types": frozenset({"triage_note", "allergy"})},
    ]
    for patient in patients:
        history = await _every_version(dba, tenant, patient)
        for as_of in moments:
            for extra in options:
                async with connection(pool, tenant) as conn:
                    found = await _candidates(
                        conn, tenant_id=tenant, patient_id=patient, as_of=as_of, **extra
                    )
                candidates = found.events
                assert found.version == 480  # every event and successor for the patient
                assert len(candidates) < len(history)
                expected = build_context(patient, history, as_of=as_of, **extra)
                got = build_context(
                    patient, candidates, as_of=as_of, withheld=found.withheld, **extra
                )
                assert got == expected, (patient, as_of, extra)
                if as_of > moments[0] and not extra:  # (at the first moment: one event)
                    assert any(section.lines for section in got.sections)
                if "visible_labels" in extra and as_of == moments[-1]:
                    assert got.withheld > 0


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
    # Scans of tables, not of CTEs, that ran (a branch the parameters rule out never runs).
    found = [node] if "Relation Name" in node and node["Actual Loops"] else []
    for child in node.get("Plans", []):
        found += _scans(child)
    return found


PARAMS = {
    "tenant_id": "text",
    "patient_id": "text",
    "as_of": "timestamptz",
    "since": "timestamptz",
    "until": "timestamptz",
    "types": "text[]",
    "visible_labels": "text[]",
}


async def _plan(dba: Connection, params: dict[str, Any]) -> dict[str, Any]:
    """The plan production runs: the generic one, under the settings that
    storage.patient_events.context_candidates runs it with, of the query prepared with the
    parameters as $1, $2, ... and run with ``params``."""
    positional, names = load.positional("context_candidates")
    query = positional.decode()
    name = f"ctx_{uuid.uuid4().hex[:8]}"
    kinds = ", ".join(PARAMS[n] for n in names)
    await dba.execute(f"PREPARE {name} ({kinds}) AS {query}".encode())
    try:
        async with dba.transaction():
            await set_local(dba, event_store.CONTEXT_PLAN)
            # Literal arguments: EXECUTE's own parameters cannot be bound.
            arguments = sql.SQL(", ").join(
                sql.SQL("{}::{}").format(sql.Literal(params[key]), sql.SQL(kind))
                for key, kind in ((n, PARAMS[n]) for n in names)
            )
            cur = await dba.execute(
                sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {} ({})").format(
                    sql.Identifier(name), arguments
                )
            )
            row = await cur.fetchone()
    finally:
        await dba.execute(f"DEALLOCATE {name}".encode())
    assert row is not None
    plan: dict[str, Any] = row[0][0]["Plan"]
    assert "$1" in json.dumps(row[0])  # the generic plan, not one for these values
    return plan


async def test_choosing_the_candidates_reads_what_is_shown_not_the_history(
    dba: Connection,
) -> None:
    """A patient with 5,000 events over 40 facts and two vital signs (one measured rarely),
    the newest of every fact corrected, some notes labelled, in a tenant with 5,000 more
    corrections: every scan of the plan, as carelog_app under row-level security, with or
    without the label and type filters, reads a few rows per fact or sign (no pass over the
    5,000), and no Seq Scan."""
    tenant, patient, other = new_tenant(), new_patient(), new_patient()
    for who in (patient, other):
        await dba.execute(
            "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload,"
            " occurred_at, recorded_by, labels) SELECT %(tenant)s, %(patient)s, k.kind,"
            " CASE k.kind"
            "  WHEN 'lab_result' THEN jsonb_build_object('test', 'test ' || (g / 5 %% 30))"
            "  WHEN 'condition' THEN jsonb_build_object('icd10', 'E' || (g / 5 %% 10))"
            "  WHEN 'vital_signs' THEN jsonb_build_object('heart_rate',"
            "   jsonb_build_object('value', 60 + g %% 40)) || CASE WHEN g %% 50 = 13"
            "   THEN '{\"weight\": {\"value\": 70}}'::jsonb ELSE '{}'::jsonb END"
            "  ELSE jsonb_build_object('text', 'note ' || g) END,"
            " now() - make_interval(mins => g), 'test',"
            " CASE WHEN k.kind = 'triage_note' AND g %% 10 = 4 THEN '{BH}'::text[]"
            "  ELSE '{}' END"
            " FROM generate_series(1, 5000) AS g,"
            " LATERAL (SELECT (ARRAY['lab_result', 'lab_result', 'condition', 'vital_signs',"
            "  'triage_note'])[1 + g %% 5] AS kind) AS k",
            {"tenant": tenant, "patient": who},
        )
    # Corrections: the newest 400 events of the patient, every event of the other one.
    await dba.execute(
        "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
        " recorded_by, status, supersedes, labels)"
        " SELECT tenant_id, patient_id, event_type, payload, occurred_at, 'test', 'amended', id,"
        " labels FROM patient_events WHERE tenant_id = %(tenant)s AND (patient_id = %(other)s"
        "  OR (patient_id = %(patient)s AND occurred_at > now() - interval '401 minutes'))",
        {"tenant": tenant, "patient": patient, "other": other},
    )
    await dba.execute("ANALYZE patient_events")
    await dba.execute("ANALYZE patient_measurements")
    await dba.execute("SET ROLE carelog_app")
    await dba.execute("SELECT set_config('carelog.tenant_id', %s, false)", (tenant,))
    found = await _candidates(dba, tenant_id=tenant, patient_id=patient, as_of=datetime.now(UTC))
    # labs x2, conditions, the latest pulse and the latest weight, notes
    assert len(found.events) == 30 * 2 + 10 + 2 + 10
    assert found.withheld == 0
    plain = await _candidates(
        dba,
        tenant_id=tenant,
        patient_id=patient,
        as_of=datetime.now(UTC),
        visible_labels=frozenset(),
    )
    notes = [e for e in plain.events if e.event_type == "triage_note"]
    assert len(notes) == 10
    assert not any(e.labels for e in notes)
    assert plain.withheld == 500  # every labelled note (half of them corrected: one each)
    # Its plan settings were its transaction's: the connection is as it was.
    cur = await dba.execute(
        "SELECT current_setting('plan_cache_mode'), current_setting('enable_sort'),"
        " current_setting('enable_bitmapscan')"
    )
    assert await cur.fetchone() == ("auto", "on", "on")
    base = {
        "tenant_id": tenant,
        "patient_id": patient,
        "as_of": datetime.now(UTC),
        "since": None,
        "until": None,
        "types": None,
        "visible_labels": None,
    }
    filters: list[dict[str, Any]] = [
        {},
        {"visible_labels": []},
        {"types": ["triage_note", "vital_signs"], "visible_labels": ["ETH"]},
        {"until": datetime.now(UTC) - timedelta(hours=24)},
    ]
    for extra in filters:
        plan = await _plan(dba, {**base, **extra})
        scans = _scans(plan)
        if not extra.get("types"):
            assert "patient_events_facts" in {s.get("Index Name") for s in scans}
        assert not [s for s in scans if s["Node Type"] == "Seq Scan"], f"{extra}\n{_outline(plan)}"
        for scan in scans:
            # per loop; never the 5,000 rows (the withheld count reads the labelled ones)
            labelled = [scan, *scan.get("Plans", [])]
            counts = any(n.get("Index Name") == "patient_events_labelled" for n in labelled)
            limit = 1000 if counts else 30
            assert scan["Actual Rows"] <= limit, f"{extra}\n{_outline(plan)}"


async def test_the_stored_measurements_follow_the_builders_rule(dba: Connection) -> None:
    """patient_measurements holds exactly the members is_measurement() takes, for writes by
    INSERT and by COPY alike, and nothing for other kinds or payloads that are not objects."""
    tenant, patient = new_tenant(), new_patient()
    payloads: list[tuple[str, Any]] = [
        ("vital_signs", {"heart_rate": {"value": 70}, "note": "calm", "bp": [120, 80]}),
        ("vital_signs", {"blood_pressure": {"systolic": 120, "diastolic": 80}}),
        ("vital_signs", {"x" * 64: {"value": 1}, "y" * 65: {"value": 2}, "z": {"unit": "kg"}}),
        ("vital_signs", {"pain_score": {"value": "severe"}, "Ärger": {"value": 1}}),
        ("vital_signs", ["not", "an", "object"]),
        ("vital_signs", {}),
        ("lab_result", {"heart_rate": {"value": 70}}),
    ]
    ids = [
        await _insert(
            dba,
            tenant=tenant,
            patient=patient,
            event_type=event_type,
            payload=payload,
            occurred_at=T0,
            recorded_at=T0,
        )
        for event_type, payload in payloads[:4]
    ]
    async with (
        dba.cursor() as cur,
        cur.copy(
            "COPY patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
            " recorded_by) FROM STDIN"
        ) as copy,
    ):
        for event_type, payload in payloads[4:]:
            await copy.write_row((tenant, patient, event_type, json.dumps(payload), T0, "test"))
    cur = await dba.execute(
        "SELECT id, event_type, payload FROM patient_events"
        " WHERE tenant_id = %s AND patient_id = %s ORDER BY id",
        (tenant, patient),
    )
    expected = sorted(
        (event_id, key)
        for event_id, event_type, payload in await cur.fetchall()
        if event_type == "vital_signs" and isinstance(payload, dict)
        for key, value in payload.items()
        if is_measurement(key, value)
    )
    cur = await dba.execute(
        "SELECT event_id, sign FROM patient_measurements"
        " WHERE tenant_id = %s AND patient_id = %s ORDER BY event_id, sign",
        (tenant, patient),
    )
    assert sorted(await cur.fetchall()) == expected
    assert (ids[0], "heart_rate") in expected
    assert (ids[2], "y" * 65) not in expected
    assert len(expected) == 5
