-- Every tenant, for an operator's rebuild across tenants.
-- tenant-scope: lists tenant ids only, for the operator's CLI.
SELECT t.tenant_id FROM tenants AS t ORDER BY t.tenant_id
