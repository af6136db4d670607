-- A tenant's overrides of one workflow's rules ('{}' when it has none).
SELECT COALESCE(
    (SELECT p.policy FROM workflow_policies AS p
     WHERE p.tenant_id = %(tenant_id)s AND p.workflow = %(workflow)s),
    '{}'::jsonb)
