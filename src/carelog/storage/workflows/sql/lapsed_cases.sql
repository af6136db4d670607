-- The tenant's cases of one workflow in one of some states whose data's date at one key
-- has passed (prior authorization: approvals whose authorization.valid_until is before
-- today), oldest first: what `carelog workflows expire` moves on.
SELECT c.case_id
FROM workflow_cases AS c
WHERE c.tenant_id = %(tenant_id)s
  AND c.workflow = %(workflow)s
  AND c.state = ANY (%(states)s::text[])
  AND c.data #>> %(path)s::text[] < %(today)s::text
ORDER BY c.opened_at, c.case_id
