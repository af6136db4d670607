-- tenant-scope: a session's own temporary table, no tenant's rows until the batch fills it.
-- The corrections and retractions of one batch of a FHIR import, dropped at its commit: COPY
-- fills it (as batch_staging), with each revision's place in the batch (ord), its event id
-- drawn from the log's sequence, and the event it supersedes (the newest of its chain).
CREATE TEMP TABLE revision_staging (
    ord         integer NOT NULL,
    id          bigint NOT NULL DEFAULT nextval('patient_events_id_seq'),
    supersedes  bigint NOT NULL,
    payload     jsonb,
    occurred_at timestamptz,
    status      text NOT NULL,
    reason      text NOT NULL
) ON COMMIT DROP
