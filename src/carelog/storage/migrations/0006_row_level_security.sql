-- Row-level security: the database's own lock behind the application's tenant filter.
--
-- The service runs its queries as carelog_app (SET ROLE on each pooled connection) and states
-- its tenant in the carelog.tenant_id setting; the policies below let carelog_app see and
-- write only that tenant's rows, so a query that forgot its tenant filter still returns
-- nothing of another tenant. The table owner (migrations, the operator's CLI) is not subject
-- to the policies: it is the operator's view across tenants.
--
-- carelog_app may INSERT and SELECT events, idempotency keys and audit rows, never UPDATE or
-- DELETE them. The audit chain trigger runs as the owner (SECURITY DEFINER) to move the
-- chain heads, which carelog_app can only read.

DO $$
BEGIN
    CREATE ROLE carelog_app NOLOGIN;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- roles are cluster-wide: another database's migration made it
END
$$;

GRANT carelog_app TO CURRENT_USER;

GRANT USAGE ON SCHEMA public TO carelog_app;
GRANT SELECT, INSERT ON patient_events, idempotency_keys, audit_events TO carelog_app;
GRANT SELECT ON audit_heads, schema_migrations TO carelog_app;
GRANT SELECT, INSERT, UPDATE ON api_keys, tenants TO carelog_app;
GRANT USAGE ON SEQUENCE patient_events_id_seq TO carelog_app;

ALTER FUNCTION carelog_audit_chain() SECURITY DEFINER SET search_path = public, pg_temp;

ALTER TABLE patient_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON patient_events TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
CREATE POLICY tenant_isolation ON idempotency_keys TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
CREATE POLICY tenant_isolation ON audit_events TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
CREATE POLICY tenant_isolation ON audit_heads TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true));
