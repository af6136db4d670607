-- How many of a patient's events matching the list's filters (and recorded by its as_of)
-- carry a label the principal may not see (reported to it as a count, never the events).
-- Reads the labelled-events index.
SELECT count(*)
FROM patient_events
WHERE tenant_id = %(tenant_id)s
  AND patient_id = %(patient_id)s
  AND labels <> '{}'
  AND NOT (labels <@ %(visible_labels)s::text[])
  AND (%(event_types)s::text[] IS NULL OR event_type = ANY (%(event_types)s::text[]))
  AND occurred_at >= COALESCE(%(since)s, '-infinity'::timestamptz)
  AND occurred_at < COALESCE(%(until)s, 'infinity'::timestamptz)
  AND recorded_at <= COALESCE(%(as_of)s, 'infinity'::timestamptz)
