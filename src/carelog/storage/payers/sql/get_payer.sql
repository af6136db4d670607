-- One payer's rules, with when and by whom they were last set.
SELECT p.rules, p.updated_at, p.updated_by
FROM payers AS p
WHERE p.tenant_id = %(tenant_id)s AND p.payer_id = %(payer_id)s
