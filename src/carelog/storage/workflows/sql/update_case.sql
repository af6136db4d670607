-- A transition's new state of the row, only if the row is still at the version the
-- transition was decided on (the service holds the row's lock, so this is a safety net).
UPDATE workflow_cases AS c
SET state = %(state)s, is_open = %(is_open)s, version = %(version)s, data = %(data)s,
    labels = %(labels)s, rank = %(rank)s, sort_at = %(sort_at)s, due_at = %(due_at)s,
    assignee = %(assignee)s, payer_id = %(payer_id)s, updated_at = %(updated_at)s,
    event_ids = %(event_ids)s
WHERE c.tenant_id = %(tenant_id)s
  AND c.case_id = %(case_id)s
  AND c.version = %(version)s - 1
RETURNING c.version
