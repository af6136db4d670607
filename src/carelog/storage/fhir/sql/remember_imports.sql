-- Remember imported resources (first time) or their new versions (a correction, a Patient's
-- new content): one row each, at most one per (resource type, resource id).
-- The arrays go in binary (%(...)b): psycopg writes a binary array of 1,000 strings about
-- 3.5 times faster than its text form (the text form quotes and escapes each one in Python).
INSERT INTO fhir_imports AS i
    (tenant_id, resource_type, resource_id, version_id, content_hash, patient_id, event_id,
     chain_id, version)
SELECT %(tenant_id)s, r.resource_type, r.resource_id, r.version_id, r.content_hash,
       r.patient_id, r.event_id, r.chain_id, r.version
FROM unnest(%(resource_types)b::text[], %(resource_ids)b::text[], %(version_ids)b::text[],
            %(content_hashes)b::text[], %(patient_ids)b::text[], %(event_ids)b::bigint[],
            %(chain_ids)b::bigint[], %(versions)b::integer[])
    AS r (resource_type, resource_id, version_id, content_hash, patient_id, event_id,
          chain_id, version)
ON CONFLICT (tenant_id, resource_type, resource_id) DO UPDATE
    SET version_id = excluded.version_id, content_hash = excluded.content_hash,
        patient_id = excluded.patient_id, event_id = excluded.event_id,
        chain_id = excluded.chain_id, version = excluded.version, imported_at = now()
