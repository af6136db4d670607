-- The job ends: done, failed (error says why, without values), or back to queued (the
-- worker stops cleanly and another takes it up).
UPDATE export_jobs
SET state = %(state)s, progress = %(progress)s, error = %(error)s,
    finished_at = CASE WHEN %(state)s IN ('done', 'failed') THEN now() END,
    worker = CASE WHEN %(state)s = 'queued' THEN NULL ELSE worker END
WHERE tenant_id = %(tenant_id)s AND id = %(job_id)s AND worker = %(worker)s AND state = 'running'
RETURNING id
