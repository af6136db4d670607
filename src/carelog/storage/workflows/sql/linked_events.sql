-- The events a case would link, among those the principal may see: its tenant's, one of its
-- patients' (when limited), every label visible. (Not audited: the transition that links
-- them is.)
SELECT e.id, e.patient_id, e.labels
FROM patient_events AS e
WHERE e.tenant_id = %(tenant_id)s
  AND e.id = ANY (%(event_ids)s::bigint[])
  AND (%(patients)s::text[] IS NULL OR e.patient_id = ANY (%(patients)s::text[]))
  AND (%(visible_labels)s::text[] IS NULL OR e.labels = '{}' OR e.labels <@ %(visible_labels)s::text[])
