-- The tenant's remembered imports of these resources, by (resource type, resource id).
SELECT i.resource_type, i.resource_id, i.version_id, i.content_hash, i.patient_id, i.event_id,
       i.chain_id, i.version
FROM fhir_imports AS i
JOIN unnest(%(resource_types)s::text[], %(resource_ids)s::text[]) AS k (resource_type, resource_id)
    ON i.resource_type = k.resource_type AND i.resource_id = k.resource_id
WHERE i.tenant_id = %(tenant_id)s
