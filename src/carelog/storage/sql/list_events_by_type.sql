-- One page of a patient's events of the given types, newest first. One bounded range scan on
-- patient_events_by_type per type, merged: O(types x page), whatever the history.
SELECT e.*
FROM unnest(%(event_types)s::text[]) AS t (event_type)
CROSS JOIN LATERAL (
    SELECT id, patient_id, event_type, payload, occurred_at, recorded_at AS created_at, recorded_by, source, status, supersedes, labels, schema_version
    FROM patient_events
    WHERE tenant_id = %(tenant_id)s
      AND patient_id = %(patient_id)s
      AND event_type = t.event_type
      AND occurred_at >= COALESCE(%(since)s, '-infinity'::timestamptz)
      AND occurred_at < COALESCE(%(until)s, 'infinity'::timestamptz)
      AND (occurred_at, id) < (COALESCE(%(after_at)s, 'infinity'::timestamptz),
                               COALESCE(%(after_id)s, 9223372036854775807))
    ORDER BY occurred_at DESC, id DESC
    LIMIT %(limit)s
) AS e
ORDER BY e.occurred_at DESC, e.id DESC
LIMIT %(limit)s
