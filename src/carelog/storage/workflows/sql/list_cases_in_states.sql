-- One page of a workflow's queue of some states (status=open...), in queue order after the
-- keyset cursor: for one state an ordered range of workflow_cases_queue; for several, those
-- states' ranges merged. And the audit row of the search.
WITH found AS (
    SELECT
{{_case_columns}}
    FROM workflow_cases AS c
    WHERE c.tenant_id = %(tenant_id)s
      AND c.workflow = %(workflow)s
      AND c.state = ANY (%(states)s::text[])
{{_queue_after}}
{{_queue_filters}}
    ORDER BY c.rank, c.sort_at, c.case_id
    LIMIT %(limit)s
{{_queue_audit}}
