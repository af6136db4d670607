-- One page of a patient's events, newest first, resuming strictly after the cursor position.
-- A range scan on patient_events_timeline: O(page), whatever the patient's history.
SELECT e.id, e.occurred_at, carelog_event_json(e) AS doc
FROM patient_events AS e
WHERE tenant_id = %(tenant_id)s
  AND patient_id = %(patient_id)s
  AND occurred_at >= COALESCE(%(since)s, '-infinity'::timestamptz)
  AND occurred_at < COALESCE(%(until)s, 'infinity'::timestamptz)
  AND (occurred_at, id) < (COALESCE(%(after_at)s, 'infinity'::timestamptz),
                           COALESCE(%(after_id)s, 9223372036854775807))
ORDER BY occurred_at DESC, id DESC
LIMIT %(limit)s
