-- The ids of a tenant's case rows (of one workflow, or one case), for a rebuild to find
-- rows that no transition event backs.
SELECT c.case_id::text
FROM workflow_cases AS c
WHERE c.tenant_id = %(tenant_id)s
  AND (%(workflow)s::text IS NULL OR c.workflow = %(workflow)s::text)
  AND (%(case_id)s::uuid IS NULL OR c.case_id = %(case_id)s::uuid)
ORDER BY c.case_id
