-- Every audit row of a tenant with the hash its stored content and predecessor link call for.
SELECT lane, seq, prev_hash, row_hash, sha256(prev_hash || carelog_audit_content(a)) AS expected
FROM audit_events AS a
WHERE tenant_id = %(tenant_id)s
ORDER BY lane, seq
