-- A job as its principal sees it (another principal's is not found), with its files' count.
SELECT j.id, j.principal, j.state, j.request, j.types, j.since, j.patients, j.visible_labels,
       j.transaction_time, j.progress, j.error,
       (SELECT count(*) FROM export_files AS f
        WHERE f.tenant_id = j.tenant_id AND f.job_id = j.id) AS files
FROM export_jobs AS j
WHERE j.tenant_id = %(tenant_id)s AND j.id = %(job_id)s
  AND (%(principal)s::text IS NULL OR j.principal = %(principal)s)
