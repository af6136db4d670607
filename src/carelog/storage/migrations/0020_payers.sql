-- Prior authorization (issue 11): the tenant's payer table. One row per payer the tenant
-- works with: its name, its decision time frames where they differ from the CMS-0057-F
-- defaults, and per service code (CPT/HCPCS) whether prior authorization is needed and which
-- documents or answers it requires (what the CMS Prior Authorization API exposes). A new
-- prior-authorization case takes its checklist from here. Replaced whole by PUT /payers/{id};
-- the cases keep the checklist they were given, so a change applies to new cases only.
CREATE TABLE payers (
    tenant_id  text NOT NULL,
    payer_id   text NOT NULL,
    rules      jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL,
    PRIMARY KEY (tenant_id, payer_id)
);

GRANT SELECT, INSERT, UPDATE ON payers TO carelog_app;
ALTER TABLE payers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payers TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
