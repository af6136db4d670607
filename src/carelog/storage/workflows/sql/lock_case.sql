-- A case of the workflow, locked for a transition, if the principal may see it: its tenant's,
-- one of its patients' (when limited), every label visible. Not audited here: the
-- transition's event writes the audit row.
SELECT
{{_case_columns}}
FROM workflow_cases AS c
WHERE c.tenant_id = %(tenant_id)s
  AND c.case_id = %(case_id)s
  AND c.workflow = %(workflow)s
{{_case_visible}}
FOR UPDATE
