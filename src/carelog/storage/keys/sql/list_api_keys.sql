-- Keys of one tenant, or of every tenant when the tenant is NULL (operators' CLI only).
-- tenant-scope: optional on purpose, this is the operator's view across tenants.
SELECT key_id, tenant_id, name, scopes, kind, agent_name, created_at, expires_at, last_used_at, revoked_at,
       replaced_by, patients, default_purpose
FROM api_keys
WHERE %(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s
ORDER BY tenant_id, created_at, key_id
