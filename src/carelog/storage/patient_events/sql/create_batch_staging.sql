-- tenant-scope: a session's own temporary table, no tenant's rows until the batch fills it.
-- The staging table of one batch (POST /patient-events/batch), dropped at its commit. COPY
-- fills it (COPY cannot write patient_events itself: row-level security refuses COPY FROM),
-- with each item's place in the batch (ord) and its event id, drawn from the log's sequence
-- as it is copied (the rows come sorted by patient and time, the order the log's indexes
-- are in: inserts then touch neighbouring index pages).
CREATE TEMP TABLE batch_staging (
    ord             integer NOT NULL,
    id              bigint NOT NULL DEFAULT nextval('patient_events_id_seq'),
    patient_id      text NOT NULL,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    occurred_at     timestamptz,
    source          text,
    labels          text[] NOT NULL,
    idempotency_key text,
    request_hash    bytea,
    replay_of       bigint
) ON COMMIT DROP
