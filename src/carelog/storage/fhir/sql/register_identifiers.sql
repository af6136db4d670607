-- Register a patient's identifiers; return those already naming another patient of the
-- tenant (left as they are). The final SELECT sees the table as it was before the INSERT.
WITH given AS (
    SELECT g.system, g.value
    FROM unnest(%(systems)s::text[], %(values)s::text[]) AS g (system, value)
), inserted AS (
    INSERT INTO fhir_patient_identifiers (tenant_id, system, value, patient_id)
    SELECT %(tenant_id)s, g.system, g.value, %(patient_id)s
    FROM given AS g
    ON CONFLICT (tenant_id, system, value) DO NOTHING
    RETURNING system
)
SELECT f.system, f.value, f.patient_id
FROM fhir_patient_identifiers AS f
JOIN given AS g ON f.system = g.system AND f.value = g.value
WHERE f.tenant_id = %(tenant_id)s AND f.patient_id <> %(patient_id)s
