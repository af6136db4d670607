-- Row-level security on the key and tenant tables too: carelog_app reaches only its stated
-- tenant's keys. Two things must cross tenants, and do so through functions that run as the
-- owner, expose nothing else, and are all carelog_app may call on those tables' behalf:
-- finding the key a presented token hashes to (before any tenant is known), and recording
-- when keys were last used (one batched statement per process for many keys).

CREATE FUNCTION carelog_find_api_key(p_hash bytea)
    RETURNS TABLE (key_id text, tenant_id text, scopes text[], kind text, agent_name text,
                   expires_at timestamptz, patients text[], default_purpose text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT k.key_id, k.tenant_id, k.scopes, k.kind, k.agent_name, k.expires_at, k.patients,
           k.default_purpose
    FROM api_keys AS k
    WHERE k.key_hash = p_hash
      AND k.revoked_at IS NULL
      AND (k.expires_at IS NULL OR k.expires_at > now())
$$;

CREATE FUNCTION carelog_record_key_use(p_ids text[], p_times timestamptz[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE api_keys AS k
    SET last_used_at = GREATEST(k.last_used_at, u.used_at)
    FROM unnest(p_ids, p_times) AS u (key_id, used_at)
    WHERE k.key_id = u.key_id
$$;

REVOKE ALL ON FUNCTION carelog_find_api_key(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION carelog_record_key_use(text[], timestamptz[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carelog_find_api_key(bytea) TO carelog_app;
GRANT EXECUTE ON FUNCTION carelog_record_key_use(text[], timestamptz[]) TO carelog_app;

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON api_keys TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
CREATE POLICY tenant_isolation ON tenants TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
