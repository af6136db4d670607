-- The patient a registered identifier names in the tenant, if any.
SELECT f.patient_id
FROM fhir_patient_identifiers AS f
WHERE f.tenant_id = %(tenant_id)s AND f.system = %(system)s AND f.value = %(value)s
