-- One page of a patient's events of the given types, newest first. One bounded range scan on
-- patient_events_by_type per type, merged: O(types x page), whatever the history.
SELECT page.id, page.occurred_at, page.doc
FROM unnest(%(event_types)s::text[]) AS t (event_type)
CROSS JOIN LATERAL (
    SELECT e.id, e.occurred_at, carelog_event_json(e) AS doc
    FROM patient_events AS e
    WHERE tenant_id = %(tenant_id)s
      AND patient_id = %(patient_id)s
      AND e.event_type = t.event_type
      AND occurred_at >= COALESCE(%(since)s, '-infinity'::timestamptz)
      AND occurred_at < COALESCE(%(until)s, 'infinity'::timestamptz)
      AND (occurred_at, id) < (COALESCE(%(after_at)s, 'infinity'::timestamptz),
                               COALESCE(%(after_id)s, 9223372036854775807))
    ORDER BY occurred_at DESC, id DESC
    LIMIT %(limit)s
) AS page
ORDER BY page.occurred_at DESC, page.id DESC
LIMIT %(limit)s
