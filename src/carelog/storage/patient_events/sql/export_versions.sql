-- Every version of these patients' events recorded by as_of that the labels let through, in
-- the order they were recorded: what a Bulk Data export maps to resources (the worker's
-- read, audited as the export's own kick-off and downloads).
SELECT e.id, e.occurred_at, carelog_event_json(e) AS doc
FROM patient_events AS e
WHERE tenant_id = %(tenant_id)s
  AND patient_id = ANY(%(patients)s::text[])
  AND (%(visible_labels)s::text[] IS NULL OR labels = '{}' OR labels <@ %(visible_labels)s::text[])
  AND recorded_at <= %(as_of)s
ORDER BY id
