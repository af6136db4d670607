-- The tenant's remembered imports of these resources, by (resource type, resource id).
-- The arrays go in binary (%(...)b): psycopg writes a binary array of 1,000 strings about
-- 3.5 times faster than its text form (the text form quotes and escapes each one in Python).
-- One primary-key probe a key (LATERAL, kept from being flattened into a join by its LIMIT):
-- a join left to the planner hashed every import of the tenant for each batch (a plan chosen
-- while the table's statistics were young), a cost that grows with all imported before.
SELECT i.resource_type, i.resource_id, i.version_id, i.content_hash, i.patient_id, i.event_id,
       i.chain_id, i.version
FROM unnest(%(resource_types)b::text[], %(resource_ids)b::text[]) AS k (resource_type, resource_id)
CROSS JOIN LATERAL (
    SELECT f.*
    FROM fhir_imports AS f
    WHERE f.tenant_id = %(tenant_id)s
      AND f.resource_type = k.resource_type
      AND f.resource_id = k.resource_id
    LIMIT 1
) AS i
