-- These events of the tenant (the current versions a Bulk Data export's first pass found),
-- each one primary-key probe: the second pass of a long history, a page at a time (not
-- audited, as the rest of the export's reads).
SELECT e.id, e.occurred_at, carelog_event_json(e) AS doc
FROM patient_events AS e
WHERE e.tenant_id = %(tenant_id)s
  AND e.id = ANY (%(ids)b::bigint[])
ORDER BY e.id
