-- The tenant's subscriptions, oldest first (a tenant has a handful).
SELECT id, url, patient_ids, event_types, description, patients, visible_labels, active,
       created_by, created_at, deactivated_at
FROM webhook_subscriptions
WHERE tenant_id = %(tenant_id)s
ORDER BY created_at, id
LIMIT %(limit)s
