-- The worker that claimed a job starts it again from nothing: files of an earlier attempt go.
DELETE FROM export_files
WHERE tenant_id = %(tenant_id)s AND job_id = %(job_id)s
  AND EXISTS (SELECT 1 FROM export_jobs
              WHERE tenant_id = %(tenant_id)s AND id = %(job_id)s AND worker = %(worker)s)
