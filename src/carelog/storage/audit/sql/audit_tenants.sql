-- Every tenant that has an audit chain (operators' verification across tenants).
-- tenant-scope: lists tenant ids only, for the operator's CLI.
SELECT DISTINCT tenant_id FROM audit_heads ORDER BY tenant_id
