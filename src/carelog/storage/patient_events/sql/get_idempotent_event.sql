-- The event first written under a tenant's Idempotency-Key, with the hash of that request.
SELECT k.request_hash, e.id, e.occurred_at, carelog_event_json(e) AS doc
FROM idempotency_keys AS k
JOIN patient_events AS e
  ON e.tenant_id = k.tenant_id AND e.patient_id = k.patient_id AND e.id = k.event_id
WHERE k.tenant_id = %(tenant_id)s AND k.idempotency_key = %(idempotency_key)s
