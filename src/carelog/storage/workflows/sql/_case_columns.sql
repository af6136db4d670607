-- The columns of a case row, in the order storage.workflows.case_from_row reads them.
-- tenant-scope: a list of columns; every statement that includes it filters by tenant_id.
c.workflow, c.case_id::text, c.patient_id, c.state, c.version, c.data, c.labels, c.is_open,
c.rank, c.due_at, c.sort_at, c.assignee, c.payer_id, c.opened_at, c.opened_by, c.opened_by_kind,
c.updated_at, c.event_ids
