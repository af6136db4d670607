-- A live key by id, locked for the rest of the transaction (rotation).
-- tenant-scope: key ids are global; the operator rotates across tenants.
SELECT key_id, tenant_id, name, scopes, kind, agent_name, created_at, expires_at, last_used_at, revoked_at,
       replaced_by, patients, default_purpose
FROM api_keys
WHERE key_id = %(key_id)s
  AND revoked_at IS NULL
  AND (expires_at IS NULL OR expires_at > now())
FOR UPDATE
