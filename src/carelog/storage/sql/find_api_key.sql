-- The live key with this token hash (revoked keys are not found).
-- tenant-scope: authentication looks a token up before its tenant is known; the row found names it.
SELECT key_id, tenant_id, scopes
FROM api_keys
WHERE key_hash = %(key_hash)s AND revoked_at IS NULL
