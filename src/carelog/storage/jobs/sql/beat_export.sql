-- The job's heartbeat and progress; no row: it is no longer this worker's.
UPDATE export_jobs
SET heartbeat_at = now(), progress = %(progress)s
WHERE tenant_id = %(tenant_id)s AND id = %(job_id)s AND worker = %(worker)s AND state = 'running'
RETURNING id
