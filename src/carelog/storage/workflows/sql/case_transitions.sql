-- A case's transition events by id (the row lists them), oldest first.
SELECT e.id, e.occurred_at, e.recorded_by, e.recorded_by_kind, e.payload, e.labels,
       e.recorded_at
FROM patient_events AS e
WHERE e.tenant_id = %(tenant_id)s
  AND e.id = ANY (%(event_ids)s::bigint[])
  AND e.event_type = 'workflow_transition'
ORDER BY e.id
