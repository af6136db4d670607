-- The event a correction or retraction names, if the principal may see it (no audit row: the
-- revision that follows is audited).
SELECT id, patient_id, event_type, status, labels
FROM patient_events
WHERE id = %(id)s
  AND tenant_id = %(tenant_id)s
  AND (%(patients)s::text[] IS NULL OR patient_id = ANY (%(patients)s::text[]))
  AND (%(visible_labels)s::text[] IS NULL OR labels = '{}' OR labels <@ %(visible_labels)s::text[])
