-- Revoke a key by id; the next request with it fails. Operators' CLI, keyed by the global id.
-- tenant-scope: key ids are global; the operator revokes across tenants.
UPDATE api_keys SET revoked_at = now()
WHERE key_id = %(key_id)s AND revoked_at IS NULL
RETURNING key_id, tenant_id, name, scopes, kind, agent_name, created_at, expires_at, last_used_at, revoked_at,
       replaced_by, patients, default_purpose
