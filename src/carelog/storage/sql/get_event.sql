-- One event by id, only if it belongs to the tenant (and to one of the principal's patients,
-- when it is limited to some).
SELECT e.id, e.occurred_at, carelog_event_json(e) AS doc
FROM patient_events AS e
WHERE id = %(id)s
  AND tenant_id = %(tenant_id)s
  AND (%(patients)s::text[] IS NULL OR patient_id = ANY (%(patients)s::text[]))
