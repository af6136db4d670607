-- The transitions (before until) of the cases of one workflow that have a decision
-- (action respond) in [since, until) the principal may see, and of those cases the events it
-- may see: the prior-authorization metrics fold them. Oldest first.
SELECT e.id, e.occurred_at, e.recorded_by, e.recorded_by_kind, e.payload, e.labels
FROM patient_events AS e
WHERE e.tenant_id = %(tenant_id)s
  AND e.event_type = 'workflow_transition'
  AND e.payload ->> 'workflow' = %(workflow)s
  AND e.occurred_at < %(until)s
  AND (%(patients)s::text[] IS NULL OR e.patient_id = ANY (%(patients)s::text[]))
  AND (%(visible_labels)s::text[] IS NULL OR e.labels = '{}' OR e.labels <@ %(visible_labels)s::text[])
  AND e.payload ->> 'case_id' IN (
      SELECT d.payload ->> 'case_id'
      FROM patient_events AS d
      WHERE d.tenant_id = %(tenant_id)s
        AND d.event_type = 'workflow_transition'
        AND d.payload ->> 'workflow' = %(workflow)s
        AND d.payload ->> 'action' = 'respond'
        AND d.occurred_at >= %(since)s
        AND d.occurred_at < %(until)s
        AND (%(patients)s::text[] IS NULL OR d.patient_id = ANY (%(patients)s::text[]))
        AND (%(visible_labels)s::text[] IS NULL OR d.labels = '{}' OR d.labels <@ %(visible_labels)s::text[]))
ORDER BY e.id
