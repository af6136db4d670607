-- FHIR Bulk Data export (issue 13, GET /fhir/$export): the jobs and the NDJSON files they
-- make, kept in the database so that a restart, or another instance, carries a job on.
--
-- export_jobs: one row per kick-off, the tenant's, served to the principal that started it
-- only (principal: its name, key:<id> or jwt:<sub>). What the job reads is fixed at kick-off:
-- the resource types (NULL: all), _since, the patients the key may reach (NULL: all), the
-- labels it may see (NULL: all) and transaction_time, the moment the export is of. state:
-- queued -> running -> done | failed; a running job's worker stamps heartbeat_at as it goes,
-- and one whose heartbeat is stale (its process died) is claimed again; a worker that stops
-- cleanly puts its job back to queued. DELETE cancels: the row goes, its files with it.
--
-- export_files: the output, one row per part of a resource type's NDJSON (a type with many
-- resources is several files of the manifest), body its UTF-8 bytes.
CREATE TABLE export_jobs (
    tenant_id        text NOT NULL,
    id               text NOT NULL,
    principal        text NOT NULL,
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'done', 'failed')),
    request          text NOT NULL,
    types            text[],
    since            timestamptz,
    patients         text[],
    visible_labels   text[],
    transaction_time timestamptz NOT NULL DEFAULT now(),
    progress         text NOT NULL DEFAULT 'queued',
    worker           text,
    heartbeat_at     timestamptz,
    attempts         integer NOT NULL DEFAULT 0,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    PRIMARY KEY (tenant_id, id)
);

-- What a worker looks through for its next job.
CREATE INDEX export_jobs_pending ON export_jobs (created_at) WHERE state IN ('queued', 'running');

CREATE TABLE export_files (
    tenant_id     text NOT NULL,
    job_id        text NOT NULL,
    resource_type text NOT NULL,
    part          integer NOT NULL,
    count         integer NOT NULL,
    body          bytea NOT NULL,
    PRIMARY KEY (tenant_id, job_id, resource_type, part),
    FOREIGN KEY (tenant_id, job_id) REFERENCES export_jobs (tenant_id, id) ON DELETE CASCADE
);

GRANT SELECT, INSERT, UPDATE, DELETE ON export_jobs, export_files TO carelog_app;

ALTER TABLE export_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_files ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON export_jobs TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
CREATE POLICY tenant_isolation ON export_files TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));

-- The one statement that looks across tenants: a worker claims the oldest job that is queued,
-- or running with a heartbeat older than stale_after (its worker died), skipping any another
-- worker is claiming at this moment, and learns only its tenant and id. It runs as the
-- tables' owner (past row-level security); everything after it the worker does as
-- carelog_app speaking for that tenant.
CREATE FUNCTION carelog_claim_export_job(claimant text, stale_after interval)
    RETURNS TABLE (tenant_id text, job_id text)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE export_jobs AS j
    SET state = 'running', worker = claimant, heartbeat_at = now(), attempts = j.attempts + 1
    FROM (
        SELECT p.tenant_id, p.id
        FROM export_jobs AS p
        WHERE p.state = 'queued' OR (p.state = 'running' AND p.heartbeat_at < now() - stale_after)
        ORDER BY p.created_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ) AS next
    WHERE j.tenant_id = next.tenant_id AND j.id = next.id
    RETURNING j.tenant_id, j.id
$$;

REVOKE ALL ON FUNCTION carelog_claim_export_job(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carelog_claim_export_job(text, interval) TO carelog_app;
