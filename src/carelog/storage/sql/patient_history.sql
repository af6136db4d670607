-- Every version of a patient's events recorded by as_of, oldest first (the context builder
-- decides what stands). Bounded by a cap; served by patient_events_timeline.
SELECT carelog_event_json(e)
FROM patient_events AS e
WHERE tenant_id = %(tenant_id)s
  AND patient_id = %(patient_id)s
  AND recorded_at <= COALESCE(%(as_of)s, 'infinity'::timestamptz)
ORDER BY occurred_at DESC, id DESC
LIMIT %(cap)s
