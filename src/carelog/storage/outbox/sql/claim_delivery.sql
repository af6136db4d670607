-- tenant-scope: the claim looks across tenants (the SECURITY DEFINER function of migration
-- 0024); it returns only the tenant and id, and the delivery is then sent speaking for it.
SELECT tenant_id, delivery_id
FROM carelog_claim_webhook_delivery(make_interval(secs => %(lease_seconds)s))
