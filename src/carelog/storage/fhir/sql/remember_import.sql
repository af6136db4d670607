-- Remember an imported resource (first time) or its new version (a correction, a Patient's
-- new content).
INSERT INTO fhir_imports AS i
    (tenant_id, resource_type, resource_id, version_id, content_hash, patient_id, event_id,
     chain_id, version)
VALUES
    (%(tenant_id)s, %(resource_type)s, %(resource_id)s, %(version_id)s, %(content_hash)s,
     %(patient_id)s, %(event_id)s, %(chain_id)s, %(version)s)
ON CONFLICT (tenant_id, resource_type, resource_id) DO UPDATE
    SET version_id = excluded.version_id, content_hash = excluded.content_hash,
        patient_id = excluded.patient_id, event_id = excluded.event_id,
        chain_id = excluded.chain_id, version = excluded.version, imported_at = now()
