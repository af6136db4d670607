-- A new case's row, written with its first transition's event (a new case id: no conflict
-- but a retry that lost its idempotency race, which the service has ruled out by then).
INSERT INTO workflow_cases AS c
    (tenant_id, case_id, workflow, patient_id, state, is_open, version, data, labels, rank,
     sort_at, due_at, assignee, payer_id, opened_at, opened_by, opened_by_kind, updated_at,
     event_ids)
VALUES
    (%(tenant_id)s, %(case_id)s, %(workflow)s, %(patient_id)s, %(state)s, %(is_open)s,
     %(version)s, %(data)s, %(labels)s, %(rank)s, %(sort_at)s, %(due_at)s, %(assignee)s,
     %(payer_id)s, %(opened_at)s, %(opened_by)s, %(opened_by_kind)s, %(updated_at)s,
     %(event_ids)s)
ON CONFLICT (tenant_id, case_id) DO UPDATE
    SET state = excluded.state, is_open = excluded.is_open, version = excluded.version,
        data = excluded.data, labels = excluded.labels, rank = excluded.rank,
        sort_at = excluded.sort_at, due_at = excluded.due_at, assignee = excluded.assignee,
        payer_id = excluded.payer_id, opened_at = excluded.opened_at,
        opened_by = excluded.opened_by, opened_by_kind = excluded.opened_by_kind,
        updated_at = excluded.updated_at, event_ids = excluded.event_ids
    WHERE %(replace)s
RETURNING c.version
