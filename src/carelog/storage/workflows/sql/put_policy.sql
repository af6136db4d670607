-- Set a tenant's overrides of one workflow's rules.
INSERT INTO workflow_policies AS p (tenant_id, workflow, policy)
VALUES (%(tenant_id)s, %(workflow)s, %(policy)s)
ON CONFLICT (tenant_id, workflow) DO UPDATE SET policy = excluded.policy, updated_at = now()
RETURNING p.policy
