-- Tenants register their own event types with a JSON Schema, and may refuse types that are
-- neither built in nor registered.
CREATE TABLE tenant_event_types (
    tenant_id   text NOT NULL,
    event_type  text NOT NULL,
    description text NOT NULL DEFAULT '',
    schema      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_type)
);

ALTER TABLE tenants ADD COLUMN reject_unregistered_types boolean NOT NULL DEFAULT false;

GRANT SELECT, INSERT, UPDATE ON tenant_event_types TO carelog_app;
ALTER TABLE tenant_event_types ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_event_types TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
