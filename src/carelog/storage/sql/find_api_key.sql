-- The live key with this token hash: not revoked and not expired.
-- tenant-scope: authentication looks a token up before its tenant is known; the row found names it.
SELECT key_id, tenant_id, scopes, kind, agent_name, expires_at, patients, default_purpose
FROM api_keys
WHERE key_hash = %(key_hash)s
  AND revoked_at IS NULL
  AND (expires_at IS NULL OR expires_at > now())
