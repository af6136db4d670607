-- The tenant's patients after a position, in id order, of those a key may reach, each with
-- the number of events recorded for it (an upper bound on what an export reads of it): a
-- Bulk Data export walks them a batch at a time.
SELECT patient_id, version
FROM patient_heads
WHERE tenant_id = %(tenant_id)s
  AND patient_id > %(after)s
  AND (%(patients)s::text[] IS NULL OR patient_id = ANY(%(patients)s::text[]))
ORDER BY patient_id
LIMIT %(limit)s
