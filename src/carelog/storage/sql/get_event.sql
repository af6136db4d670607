-- One event by id, only if it belongs to the tenant.
SELECT e.id, e.occurred_at, carelog_event_json(e) AS doc
FROM patient_events AS e
WHERE id = %(id)s AND tenant_id = %(tenant_id)s
