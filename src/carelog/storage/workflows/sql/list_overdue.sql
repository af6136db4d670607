-- One page of a workflow's overdue cases (open, due before now), the most overdue first
-- (due_at, case_id) after the keyset cursor: an ordered range of workflow_cases_due, which
-- holds only open cases with a clock. (The cursor's rank is 0 here.) And the audit row.
WITH found AS (
    SELECT
{{_case_columns}}
    FROM workflow_cases AS c
    WHERE c.tenant_id = %(tenant_id)s
      AND c.workflow = %(workflow)s
      AND c.is_open AND c.due_at IS NOT NULL
      AND c.due_at < %(now)s
      AND (c.due_at, c.case_id) > (
          COALESCE(%(after_sort_at)s::timestamptz, '-infinity'::timestamptz),
          COALESCE(%(after_case)s::uuid, '00000000-0000-0000-0000-000000000000'::uuid))
      AND (%(states)s::text[] IS NULL OR c.state = ANY (%(states)s::text[]))
{{_queue_filters}}
    ORDER BY c.due_at, c.case_id
    LIMIT %(limit)s
{{_queue_audit}}
