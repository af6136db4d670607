SELECT id, url, patient_ids, event_types, description, patients, visible_labels, active,
       created_by, created_at, deactivated_at
FROM webhook_subscriptions
WHERE tenant_id = %(tenant_id)s AND id = %(id)s
