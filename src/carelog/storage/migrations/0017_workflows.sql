-- Workflows (issue 11): the current state of each case, kept for fast queries.
--
-- A case's truth is its workflow_transition events in the patient's log (one per
-- transition); this row is their projection, written in the same transaction as each event,
-- and `carelog workflows rebuild` can make it again from them. Nothing is deleted: closed and
-- cancelled cases stay.
--
-- version counts the case's transitions (the ETag). rank and sort_at are the queue's order
-- (escalations: severity, then age; care tasks: priority, then due time); due_at is set only
-- while the case's clock runs; assignee and payer_id are the queue filters of care tasks and
-- prior authorization. labels are the case's sensitivity labels (its own and those of the
-- events it links), read with the same rule as events. event_ids are the case's transition
-- events in order (its timeline; a read of the timeline fetches them by primary key).
CREATE TABLE workflow_cases (
    tenant_id      text NOT NULL,
    case_id        uuid NOT NULL,
    workflow       text NOT NULL,
    patient_id     text NOT NULL,
    state          text NOT NULL,
    is_open        boolean NOT NULL,
    version        integer NOT NULL CHECK (version >= 1),
    data           jsonb NOT NULL,
    labels         text[] NOT NULL DEFAULT '{}',
    rank           smallint NOT NULL DEFAULT 0,
    sort_at        timestamptz NOT NULL,
    due_at         timestamptz,
    assignee       text,
    payer_id       text,
    opened_at      timestamptz NOT NULL,
    opened_by      text NOT NULL,
    opened_by_kind text NOT NULL,
    updated_at     timestamptz NOT NULL,
    event_ids      bigint[] NOT NULL,
    PRIMARY KEY (tenant_id, case_id)
);

-- A queue read is an ordered index range, a page at a time (keyset cursors): every state in
-- queue order; one state (status=...) in queue order; the overdue ones (open, with a clock)
-- by due time.
CREATE INDEX workflow_cases_order
    ON workflow_cases (tenant_id, workflow, rank, sort_at, case_id);
CREATE INDEX workflow_cases_queue
    ON workflow_cases (tenant_id, workflow, state, rank, sort_at, case_id);
CREATE INDEX workflow_cases_due
    ON workflow_cases (tenant_id, workflow, due_at, case_id) WHERE is_open AND due_at IS NOT NULL;
-- A patient's cases (the context's open items, ?patient_id=).
CREATE INDEX workflow_cases_patient
    ON workflow_cases (tenant_id, patient_id, workflow, opened_at);

-- A tenant's rules for one workflow (escalation response targets, per severity, in seconds),
-- on top of the built-in defaults.
CREATE TABLE workflow_policies (
    tenant_id  text NOT NULL,
    workflow   text NOT NULL,
    policy     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, workflow)
);

GRANT SELECT, INSERT, UPDATE ON workflow_cases TO carelog_app;
GRANT SELECT, INSERT, UPDATE ON workflow_policies TO carelog_app;
ALTER TABLE workflow_cases ENABLE ROW LEVEL SECURITY;
ALTER TABLE workflow_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workflow_cases TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
CREATE POLICY tenant_isolation ON workflow_policies TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
