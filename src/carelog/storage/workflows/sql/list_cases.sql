-- One page of a workflow's queue, every state, in queue order (rank, sort_at, case_id) after
-- the keyset cursor (the first page starts below every key): an ordered range of
-- workflow_cases_order, read a page at a time; and the audit row of the search.
WITH found AS (
    SELECT
{{_case_columns}}
    FROM workflow_cases AS c
    WHERE c.tenant_id = %(tenant_id)s
      AND c.workflow = %(workflow)s
{{_queue_after}}
{{_queue_filters}}
    ORDER BY c.rank, c.sort_at, c.case_id
    LIMIT %(limit)s
{{_queue_audit}}
