-- A rotated key stays valid for a grace period, then expires; it names its replacement.
-- tenant-scope: key ids are global; the operator rotates across tenants.
UPDATE api_keys
SET expires_at = LEAST(COALESCE(expires_at, 'infinity'::timestamptz), now() + %(grace)s),
    replaced_by = %(replaced_by)s
WHERE key_id = %(key_id)s
RETURNING key_id, tenant_id, name, scopes, kind, agent_name, created_at, expires_at, last_used_at, revoked_at,
       replaced_by, patients, default_purpose
