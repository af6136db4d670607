-- One part of the output, with the job's heartbeat and progress, in one statement: nothing
-- is written when the job is no longer this worker's (cancelled, or claimed by another).
WITH job AS (
    UPDATE export_jobs
    SET heartbeat_at = now(), progress = %(progress)s
    WHERE tenant_id = %(tenant_id)s AND id = %(job_id)s AND worker = %(worker)s
      AND state = 'running'
    RETURNING tenant_id, id
)
INSERT INTO export_files (tenant_id, job_id, resource_type, part, count, body)
SELECT tenant_id, id, %(resource_type)s, %(part)s, %(count)s, %(body)s FROM job
RETURNING part
