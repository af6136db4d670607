-- Set one payer's rules (the whole document).
INSERT INTO payers AS p (tenant_id, payer_id, rules, updated_at, updated_by)
VALUES (%(tenant_id)s, %(payer_id)s, %(rules)s, %(updated_at)s, %(updated_by)s)
ON CONFLICT (tenant_id, payer_id) DO UPDATE
    SET rules = excluded.rules, updated_at = excluded.updated_at, updated_by = excluded.updated_by
RETURNING p.rules, p.updated_at, p.updated_by
