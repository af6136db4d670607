-- Cancel a job (or forget a finished one): it and its files go.
DELETE FROM export_jobs
WHERE tenant_id = %(tenant_id)s AND id = %(job_id)s AND principal = %(principal)s
RETURNING id
