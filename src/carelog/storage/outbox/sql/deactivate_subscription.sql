-- Deactivate (nothing is deleted): no delivery is made for it from now on, and its pending
-- ones are cancelled. Deactivating an inactive one changes nothing.
WITH sub AS (
    UPDATE webhook_subscriptions
    SET active = false, deactivated_at = COALESCE(deactivated_at, now())
    WHERE tenant_id = %(tenant_id)s AND id = %(id)s
    RETURNING id, url, patient_ids, event_types, description, patients, visible_labels,
              active, created_by, created_at, deactivated_at
), cancelled AS (
    UPDATE webhook_deliveries AS d
    SET state = 'cancelled'
    FROM sub
    WHERE d.tenant_id = %(tenant_id)s AND d.subscription_id = sub.id AND d.state = 'pending'
    RETURNING d.id
)
SELECT * FROM sub
