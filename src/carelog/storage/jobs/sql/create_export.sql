-- A kick-off: the job, queued, with what it is to read fixed now.
INSERT INTO export_jobs
    (tenant_id, id, principal, request, types, since, patients, visible_labels)
VALUES (%(tenant_id)s, %(job_id)s, %(principal)s, %(request)s, %(types)s, %(since)s,
        %(patients)s, %(visible_labels)s)
RETURNING transaction_time
