-- A finished job's files, in the manifest's order.
SELECT resource_type, part, count
FROM export_files
WHERE tenant_id = %(tenant_id)s AND job_id = %(job_id)s
ORDER BY resource_type, part
