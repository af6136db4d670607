"""What FHIR imports remember (storage.fhir, migration 0016): per tenant under row-level
security, identifiers registered all or none, resources remembered and replaced."""

from __future__ import annotations

import psycopg
import pytest

from carelog.storage import fhir as fhir_store
from carelog.storage.db import Pool, connection
from carelog.storage.fhir import Remembered
from tests.factories import new_patient, new_tenant

pytestmark = pytest.mark.integration

MRN = "urn:oid:2.16.840.1.113883.19.5"


def remembered(resource_id: str, patient: str, version: int = 1) -> Remembered:
    return Remembered(
        "Observation", resource_id, str(version), f"hash-{version}", patient, 7, 7, version
    )


async def test_each_tenant_sees_only_its_own_imports_and_identifiers(pool: Pool) -> None:
    tenant_a, tenant_b = new_tenant(), new_tenant()
    for tenant in (tenant_a, tenant_b):
        async with connection(pool, tenant) as conn:
            patient = new_patient()
            assert (
                await fhir_store.register_identifiers(
                    conn, tenant_id=tenant, patient_id=patient, identifiers=[(MRN, "shared-mrn")]
                )
                == []
            )  # the same identifier in two tenants: two patients, no conflict
            await fhir_store.remember_imports(
                conn, tenant_id=tenant, remembered=[remembered("shared-id", patient)]
            )
    async with connection(pool, tenant_a) as conn:
        for table in ("fhir_imports", "fhir_patient_identifiers"):
            cur = await conn.execute(f"SELECT DISTINCT tenant_id FROM {table}")  # no filter
            assert await cur.fetchall() == [(tenant_a,)]
        found = await fhir_store.lookup_imports(
            conn, tenant_id=tenant_b, keys=[("Observation", "shared-id")]
        )
        assert found == {}  # asked for the other tenant's: row-level security says none
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            await conn.execute(
                "INSERT INTO fhir_patient_identifiers (tenant_id, system, value, patient_id)"
                " VALUES (%s, 's', 'v', 'P-1')",
                (tenant_b,),
            )


async def test_identifiers_are_registered_all_or_none(pool: Pool) -> None:
    tenant, first, second = new_tenant(), new_patient(), new_patient()
    async with connection(pool, tenant) as conn:
        taken = await fhir_store.register_identifiers(
            conn, tenant_id=tenant, patient_id=first, identifiers=[(MRN, "a"), ("", "b")]
        )
        assert taken == []
        # Again for the same patient: nothing new, no conflict.
        assert (
            await fhir_store.register_identifiers(
                conn, tenant_id=tenant, patient_id=first, identifiers=[(MRN, "a")]
            )
            == []
        )
        taken = await fhir_store.register_identifiers(
            conn, tenant_id=tenant, patient_id=second, identifiers=[(MRN, "c"), (MRN, "a")]
        )
        assert taken == [(MRN, "a", first)]
        resolve = fhir_store.resolve_identifier
        assert await resolve(conn, tenant_id=tenant, system=MRN, value="a") == first
        assert await resolve(conn, tenant_id=tenant, system="", value="b") == first
        assert await resolve(conn, tenant_id=tenant, system=MRN, value="c") is None


async def test_a_new_version_replaces_what_was_remembered(pool: Pool) -> None:
    tenant, patient = new_tenant(), new_patient()
    async with connection(pool, tenant) as conn:
        await fhir_store.remember_imports(
            conn,
            tenant_id=tenant,
            remembered=[remembered("o1", patient), remembered("o2", patient)],
        )
        await fhir_store.remember_imports(
            conn, tenant_id=tenant, remembered=[remembered("o1", patient, version=2)]
        )
        found = await fhir_store.lookup_imports(
            conn,
            tenant_id=tenant,
            keys=[("Observation", "o1"), ("Observation", "o2"), ("Observation", "o3")],
        )
    assert sorted(found) == [("Observation", "o1"), ("Observation", "o2")]
    assert found[("Observation", "o1")] == remembered("o1", patient, version=2)
    assert found[("Observation", "o2")].version == 1
