-- Create the tenant if it does not exist yet.
INSERT INTO tenants (tenant_id) VALUES (%(tenant_id)s) ON CONFLICT (tenant_id) DO NOTHING
