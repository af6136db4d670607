-- One file of a finished job of the principal's.
SELECT f.body
FROM export_files AS f
JOIN export_jobs AS j ON j.tenant_id = f.tenant_id AND j.id = f.job_id
WHERE f.tenant_id = %(tenant_id)s AND f.job_id = %(job_id)s
  AND f.resource_type = %(resource_type)s AND f.part = %(part)s
  AND j.principal = %(principal)s AND j.state = 'done'
