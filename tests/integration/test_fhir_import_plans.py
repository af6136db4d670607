"""An import's lookups (what it imported before, the identifiers a Patient registers, the
newest version of each changed resource's event) are one primary-key probe a key, not a
read of everything the tenant ever imported: planned as the service runs them (carelog_app,
row-level security), with the table's statistics young (as in the first minutes of a bulk
load) and after ANALYZE."""

from __future__ import annotations

import pytest

from carelog.storage import fhir as fhir_store
from carelog.storage.db import Connection
from carelog.storage.patient_events import revision_batch
from carelog.storage.queries import Queries

pytestmark = pytest.mark.integration

load = Queries("carelog.storage.fhir")
load_events = Queries("carelog.storage.patient_events")
TENANT, OTHER = "t-plan-fhir-imports", "t-plan-fhir-imports-other"


async def _plan(dba: Connection, keys: list[tuple[str, str]]) -> str:
    params = {
        "tenant_id": TENANT,
        "resource_types": [kind for kind, _ in keys],
        "resource_ids": [rid for _, rid in keys],
    }
    cur = await dba.execute(b"EXPLAIN " + load("lookup_imports"), params)
    return "\n".join(r[0] for r in await cur.fetchall())


async def test_the_lookup_probes_the_key_of_each_resource(dba: Connection) -> None:
    await dba.execute(
        "INSERT INTO fhir_imports (tenant_id, resource_type, resource_id, version_id,"
        " content_hash, patient_id, event_id, chain_id)"
        " SELECT t, 'Observation', 'obs-' || g, '1', md5(g::text), 'P-' || (g %% 50), g, g"
        " FROM generate_series(1, 20000) AS g, unnest(ARRAY[%(t)s, %(o)s]) AS t",
        {"t": TENANT, "o": OTHER},
    )
    await dba.execute("SET ROLE carelog_app")
    await dba.execute("SELECT set_config('carelog.tenant_id', %s, false)", (TENANT,))
    # A batch of 1,000: half imported before (among 20,000 of the tenant), half new.
    keys = [("Observation", f"obs-{n}") for n in range(19_501, 20_501)]
    for analyzed in (False, True):
        plan = await _plan(dba, keys)
        assert "Index Scan using fhir_imports_pkey" in plan, (analyzed, plan)
        for scan in ("Hash", "Bitmap", "Seq Scan"):
            assert scan not in plan, (analyzed, plan)
        if not analyzed:
            await dba.execute("RESET ROLE")
            await dba.execute("ANALYZE fhir_imports")
            await dba.execute("SET ROLE carelog_app")

    found = await fhir_store.lookup_imports(dba, tenant_id=TENANT, keys=keys)
    assert sorted(found) == [("Observation", f"obs-{n}") for n in range(19_501, 20_001)]
    first = found[("Observation", "obs-19501")]
    assert (first.patient_id, first.event_id, first.version_id) == ("P-1", 19_501, "1")
    # The other tenant's rows of the same ids are not this tenant's.
    await dba.execute("SELECT set_config('carelog.tenant_id', %s, false)", (OTHER,))
    assert await fhir_store.lookup_imports(dba, tenant_id=TENANT, keys=keys) == {}
    assert len(await fhir_store.lookup_imports(dba, tenant_id=OTHER, keys=keys)) == 500


async def test_registering_identifiers_probes_each_one(dba: Connection) -> None:
    await dba.execute(
        "INSERT INTO fhir_patient_identifiers (tenant_id, system, value, patient_id)"
        " SELECT %(t)s, 'urn:oid:2.16.840.1.113883.19.5', 'MRN-' || g, 'P-' || g"
        " FROM generate_series(1, 20000) AS g",
        {"t": TENANT},
    )
    await dba.execute("SET ROLE carelog_app")
    await dba.execute("SELECT set_config('carelog.tenant_id', %s, false)", (TENANT,))
    params = {
        "tenant_id": TENANT,
        "patient_id": "P-new",
        "systems": ["urn:oid:2.16.840.1.113883.19.5", "urn:example:ssn"],
        "values": ["MRN-20001", "000-00-0001"],
    }
    cur = await dba.execute(b"EXPLAIN " + load("register_identifiers"), params)
    plan = "\n".join(r[0] for r in await cur.fetchall())
    taken = plan.split("CTE taken", 1)[1].split("CTE inserted", 1)[0]
    assert "Index Scan using fhir_patient_identifiers_pkey" in taken, plan
    for scan in ("Hash", "Bitmap", "Seq Scan"):
        assert scan not in taken, plan
    # Taken by another patient: nothing written, the holder named; free: registered.
    taken_by = await fhir_store.register_identifiers(
        dba, tenant_id=TENANT, patient_id="P-new",
        identifiers=[("urn:oid:2.16.840.1.113883.19.5", "MRN-7"), ("urn:example:ssn", "1")],
    )  # fmt: skip
    assert taken_by == [("urn:oid:2.16.840.1.113883.19.5", "MRN-7", "P-7")]
    assert (
        await fhir_store.resolve_identifier(
            dba, tenant_id=TENANT, system="urn:example:ssn", value="1"
        )
        is None
    )
    assert await fhir_store.register_identifiers(
        dba, tenant_id=TENANT, patient_id="P-7",
        identifiers=[("urn:oid:2.16.840.1.113883.19.5", "MRN-7"), ("urn:example:ssn", "1")],
    ) == []  # fmt: skip
    assert (
        await fhir_store.resolve_identifier(
            dba, tenant_id=TENANT, system="urn:example:ssn", value="1"
        )
        == "P-7"
    )


async def test_the_newest_versions_of_changed_resources_are_probed_a_step_at_a_time(
    dba: Connection,
) -> None:
    tenant = "t-plan-fhir-revisions"
    # 20,000 events of 50 patients, the first 5,000 each corrected once.
    await dba.execute(
        "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
        " recorded_by) SELECT %(t)s, 'P-' || (g %% 50), 'lab_result', '{}',"
        " now() - make_interval(secs => g), 'key:plan' FROM generate_series(1, 20000) AS g",
        {"t": tenant},
    )
    await dba.execute(
        "INSERT INTO patient_events (tenant_id, patient_id, event_type, payload, occurred_at,"
        " recorded_by, status, supersedes) SELECT tenant_id, patient_id, event_type, payload,"
        " occurred_at, recorded_by, 'amended', id FROM patient_events"
        " WHERE tenant_id = %(t)s ORDER BY id LIMIT 5000",
        {"t": tenant},
    )
    cur = await dba.execute(
        "SELECT id FROM patient_events WHERE tenant_id = %s AND supersedes IS NULL"
        " ORDER BY id LIMIT 1000",
        (tenant,),
    )
    starts = [int(row[0]) for row in await cur.fetchall()]
    await dba.execute("SET ROLE carelog_app")
    await dba.execute("SELECT set_config('carelog.tenant_id', %s, false)", (tenant,))
    params = {"tenant_id": tenant, "ids": starts, "patients": None, "visible_labels": None}
    cur = await dba.execute(b"EXPLAIN " + load_events("revision_targets"), params)
    plan = "\n".join(r[0] for r in await cur.fetchall())
    assert "Index Scan using patient_events_one_successor" in plan, plan
    assert "Index Scan using patient_events_pkey" in plan, plan
    for scan in ("Hash Join", "Bitmap", "Seq Scan"):  # (a HashAggregate of the batch's own)
        assert scan not in plan, plan
    found = await revision_batch.revision_targets(
        dba, tenant_id=tenant, event_ids=starts, patients=None, visible_labels=None
    )
    assert sorted(found) == starts
    # Each start's newest version is its correction (ids of the first 5,000 + 20,000).
    assert all(found[s].target.id != s and found[s].visible for s in starts)
    assert {found[s].target.status for s in starts} == {"amended"}
    hidden = await revision_batch.revision_targets(
        dba, tenant_id=tenant, event_ids=starts[:3], patients=frozenset({"P-nobody"}),
        visible_labels=None,
    )  # fmt: skip
    assert [hidden[s].visible for s in starts[:3]] == [False] * 3
