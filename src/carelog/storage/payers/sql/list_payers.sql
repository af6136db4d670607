-- The tenant's payers in id order, after a keyset (the previous page's last id).
SELECT p.payer_id, p.rules, p.updated_at, p.updated_by
FROM payers AS p
WHERE p.tenant_id = %(tenant_id)s
  AND (%(after)s::text IS NULL OR p.payer_id > %(after)s::text)
ORDER BY p.payer_id
LIMIT %(limit)s
