-- tenant-scope: the claim looks across tenants (the SECURITY DEFINER function of migration
-- 0019); it returns only the tenant and id, and the job is then run speaking for that tenant.
SELECT tenant_id, job_id FROM carelog_claim_export_job(%(worker)s, make_interval(secs => %(stale_seconds)s))
