-- A patient's cases the principal may see (only the open ones, or every one), in queue
-- order of each workflow: the context's open items.
SELECT
{{_case_columns}}
FROM workflow_cases AS c
WHERE c.tenant_id = %(tenant_id)s
  AND c.patient_id = %(patient_id)s
  AND (NOT %(open_only)s OR c.is_open)
{{_case_visible}}
ORDER BY c.workflow, c.rank, c.sort_at, c.case_id
