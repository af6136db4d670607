-- What a worker needs of the job it claimed.
SELECT types, since, patients, visible_labels, transaction_time
FROM export_jobs
WHERE tenant_id = %(tenant_id)s AND id = %(job_id)s AND worker = %(worker)s
