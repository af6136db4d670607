-- Every transition event of the tenant's cases of one workflow (or one case), oldest first,
-- for an operator's rebuild of the rows.
SELECT e.id, e.occurred_at, e.recorded_by, e.recorded_by_kind, e.payload, e.labels,
       e.patient_id
FROM patient_events AS e
WHERE e.tenant_id = %(tenant_id)s
  AND e.event_type = 'workflow_transition'
  AND (%(workflow)s::text IS NULL OR e.payload ->> 'workflow' = %(workflow)s::text)
  AND (%(case_id)s::text IS NULL OR e.payload ->> 'case_id' = %(case_id)s::text)
ORDER BY e.id
