-- The event first written under a tenant's Idempotency-Key, with the hash of that request.
SELECT k.request_hash,
       e.id, e.patient_id, e.event_type, e.payload, e.occurred_at, e.recorded_at AS created_at,
       e.recorded_by, e.source, e.status, e.supersedes, e.labels, e.schema_version
FROM idempotency_keys AS k
JOIN patient_events AS e
  ON e.tenant_id = k.tenant_id AND e.patient_id = k.patient_id AND e.id = k.event_id
WHERE k.tenant_id = %(tenant_id)s AND k.idempotency_key = %(idempotency_key)s
