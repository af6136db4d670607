-- Store a new key's hash (never the token).
INSERT INTO api_keys (key_id, tenant_id, name, key_hash, scopes)
VALUES (%(key_id)s, %(tenant_id)s, %(name)s, %(key_hash)s, %(scopes)s)
RETURNING key_id, tenant_id, name, scopes, created_at, revoked_at
