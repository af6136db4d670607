-- One event by id, only if it belongs to the tenant.
SELECT id, patient_id, event_type, payload, occurred_at, recorded_at AS created_at, recorded_by, source, status, supersedes, labels, schema_version
FROM patient_events
WHERE id = %(id)s AND tenant_id = %(tenant_id)s
