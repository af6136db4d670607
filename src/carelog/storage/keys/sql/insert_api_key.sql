-- Store a new key's hash (never the token).
INSERT INTO api_keys
    (key_id, tenant_id, name, key_hash, scopes, kind, agent_name, expires_at, patients,
     default_purpose)
VALUES (%(key_id)s, %(tenant_id)s, %(name)s, %(key_hash)s, %(scopes)s, %(kind)s, %(agent_name)s,
        %(expires_at)s, %(patients)s, %(default_purpose)s)
RETURNING key_id, tenant_id, name, scopes, kind, agent_name, created_at, expires_at, last_used_at, revoked_at,
       replaced_by, patients, default_purpose
