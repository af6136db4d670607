-- One page of a workflow's queue, in queue order (rank, sort_at, case_id), after the keyset
-- cursor: the principal's visible cases of the tenant, filtered; and the audit row of the
-- search (the cases' newest transition events are what was seen).
WITH found AS (
    SELECT
{{_case_columns}}
    FROM workflow_cases AS c
    WHERE c.tenant_id = %(tenant_id)s
      AND c.workflow = %(workflow)s
      AND (%(states)s::text[] IS NULL OR c.state = ANY (%(states)s::text[]))
      AND (NOT %(open_only)s OR c.is_open)
      AND (NOT %(overdue)s OR (c.is_open AND c.due_at < %(now)s))
      AND (%(patient_id)s::text IS NULL OR c.patient_id = %(patient_id)s::text)
      AND (%(assignee)s::text IS NULL OR c.assignee = %(assignee)s::text)
      AND (%(payer_id)s::text IS NULL OR c.payer_id = %(payer_id)s::text)
{{_case_visible}}
      AND (%(after_rank)s::smallint IS NULL
           OR (c.rank, c.sort_at, c.case_id)
              > (%(after_rank)s::smallint, %(after_sort_at)s::timestamptz, %(after_case)s::uuid))
    ORDER BY c.rank, c.sort_at, c.case_id
    LIMIT %(limit)s
), audit AS (
    {{audit._audit_row}}
           'search', 'success', NULL::smallint,
           CASE WHEN count(DISTINCT f.patient_id) = 1 THEN max(f.patient_id) END,
           COALESCE(array_agg(f.event_ids[cardinality(f.event_ids)]), '{}'), count(*)
    FROM found AS f
)
SELECT * FROM found
