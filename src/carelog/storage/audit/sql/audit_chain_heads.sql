-- Each lane's recorded end of chain, for a tenant.
SELECT lane, seq, row_hash FROM audit_heads WHERE tenant_id = %(tenant_id)s
