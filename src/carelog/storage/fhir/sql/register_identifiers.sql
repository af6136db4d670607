-- Register a patient's identifiers, all or none: when one already names another patient of
-- the tenant, nothing is written and those are returned (system, value, that patient).
WITH given AS (
    SELECT g.system, g.value
    FROM unnest(%(systems)s::text[], %(values)s::text[]) AS g (system, value)
), taken AS (
    SELECT f.system, f.value, f.patient_id
    FROM fhir_patient_identifiers AS f
    JOIN given AS g ON f.system = g.system AND f.value = g.value
    WHERE f.tenant_id = %(tenant_id)s AND f.patient_id <> %(patient_id)s
), inserted AS (
    INSERT INTO fhir_patient_identifiers (tenant_id, system, value, patient_id)
    SELECT %(tenant_id)s, g.system, g.value, %(patient_id)s
    FROM given AS g
    WHERE NOT EXISTS (SELECT 1 FROM taken)
    ON CONFLICT (tenant_id, system, value) DO NOTHING
    RETURNING system
)
SELECT t.system, t.value, t.patient_id FROM taken AS t
