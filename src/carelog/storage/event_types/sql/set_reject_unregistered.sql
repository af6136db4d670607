-- Whether the tenant refuses event types that are neither built in nor registered.
INSERT INTO tenants (tenant_id, reject_unregistered_types)
VALUES (%(tenant_id)s, %(reject)s)
ON CONFLICT (tenant_id) DO UPDATE SET reject_unregistered_types = EXCLUDED.reject_unregistered_types
RETURNING reject_unregistered_types
