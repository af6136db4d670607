-- Append one event for a tenant's patient.
INSERT INTO patient_events
    (tenant_id, patient_id, event_type, payload, occurred_at, recorded_by, source)
VALUES
    (%(tenant_id)s, %(patient_id)s, %(event_type)s, %(payload)s,
     COALESCE(%(occurred_at)s, now()), %(recorded_by)s, %(source)s)
RETURNING id, patient_id, event_type, payload, occurred_at, recorded_at AS created_at, recorded_by, source, status, supersedes, labels, schema_version
